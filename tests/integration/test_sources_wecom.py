"""WeCom (企业微信) callbacks end to end (real Redis and SQL): URL verification, encrypted
customer-group changes becoming `member` events, re-sent callbacks as duplicates, and
hostile XML or a bad signature changing nothing."""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import urlencode

from tests.conftest import ADMIN, Harness, harness_for
from warroom.core.sources import wecom

ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}
# WeCom's own example values ("加解密方案说明" and its sample code).
CFG = {
    "corp_id": "wx5823bf96d3bd56c7",
    "token": "QDG6eK",
    "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
}
WECOM = wecom.WeComConfig.model_validate(CFG)
CREATED = 1794364800  # 2026-11-11T10:40:00+08:00, inside the test campaign


def change(
    detail: str,
    members: list[str],
    chat: str = "wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAA",
    change_type: str = "update",
    created: int = CREATED,
) -> bytes:
    items = "".join(f"<Item><![CDATA[{m}]]></Item>" for m in members)
    return (
        "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_chat]]></Event>"
        f"<ChatId><![CDATA[{chat}]]></ChatId><ChangeType><![CDATA[{change_type}]]></ChangeType>"
        f"<UpdateDetail><![CDATA[{detail}]]></UpdateDetail><JoinScene>1</JoinScene>"
        f"<MemChangeCnt>{len(members)}</MemChangeCnt><MemChangeList>{items}</MemChangeList>"
        "</xml>"
    ).encode()


def sealed(plain: bytes, token: str = CFG["token"]) -> tuple[bytes, dict[str, str]]:
    encrypted = wecom.encrypt(WECOM, plain, os.urandom(16))
    ts, nonce = str(int(time.time())), "1372623149"
    body = (
        "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
        f"<AgentID><![CDATA[218]]></AgentID><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    ).encode()
    sig = wecom.msg_signature(token, ts, nonce, encrypted)
    return body, {"msg_signature": sig, "timestamp": ts, "nonce": nonce}


async def add(h: Harness, cfg: dict[str, Any] = CFG) -> str:
    res = await h.client.post(
        "/api/v1/campaigns/sale/sources",
        json={"kind": "wecom", "name": "企业微信客户群", "config": cfg},
        headers=ADMIN_H,
    )
    assert res.status_code == 201, res.text
    return res.json()["url"].removeprefix("http://testserver")


async def post(h: Harness, url: str, body: bytes, query: dict[str, str]) -> Any:
    return await h.client.post(
        f"{url}?{urlencode(query)}", content=body, headers={"Content-Type": "text/xml"}
    )


async def log_of(h: Harness, url: str) -> list[dict[str, Any]]:
    sid = url.rsplit("/", 1)[1]
    res = await h.client.get(f"/api/v1/campaigns/sale/sources/{sid}/deliveries", headers=ADMIN_H)
    return res.json()


async def test_url_verification_with_wecoms_own_example(settings) -> None:
    async with harness_for(settings) as h:
        await h.create_campaign()
        url = await add(h)
        # The verification request of WeCom's documentation, as WeCom sends it.
        query = {
            "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
            "timestamp": "1409659589",
            "nonce": "263014780",
            "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
        }
        res = await h.client.get(f"{url}?{urlencode(query)}")
        assert res.status_code == 200, res.text
        assert res.text == "1616140317555161061"
        bad = await h.client.get(f"{url}?{urlencode({**query, 'nonce': '1'})}")
        assert bad.status_code == 401
        assert [d["outcome"] for d in await log_of(h, url)] == ["signature", "verified"]


async def test_members_join_and_leave_and_a_resent_callback_is_a_duplicate(settings) -> None:
    async with harness_for(settings) as h:
        c = await h.create_campaign()
        url = await add(h)
        body, query = sealed(change("add_member", ["wmJack", "wmRose", "wmLee"]))
        res = await post(h, url, body, query)
        assert res.status_code == 200 and res.text == ""
        again = await post(h, url, body, query)  # WeCom retries when unsure
        assert again.status_code == 200
        left, q2 = sealed(change("del_member", ["wmRose"], created=CREATED + 60))
        assert (await post(h, url, left, q2)).status_code == 200
        await h.drain()
        snap = await h.snapshot("sale", c["viewer_token"])
        assert snap["totals"]["members"] == 2
        log = await log_of(h, url)
        assert [(d["outcome"], d["accepted"], d["duplicates"]) for d in log] == [
            ("recorded", 1, 0),
            ("recorded", 0, 3),
            ("recorded", 3, 0),
        ]


async def test_group_created_and_dismissed_are_noted(settings) -> None:
    async with harness_for(settings) as h:
        await h.create_campaign()
        url = await add(h)
        body, query = sealed(change("", [], change_type="create"))
        assert (await post(h, url, body, query)).status_code == 200
        log = await log_of(h, url)
        assert log[0]["accepted"] == 0 and "created" in log[0]["note"]


async def test_bad_signature_and_hostile_xml_change_nothing(settings) -> None:
    async with harness_for(settings) as h:
        c = await h.create_campaign()
        url = await add(h)
        body, query = sealed(change("add_member", ["wmJack"]))
        forged = await post(h, url, body, {**query, "msg_signature": "0" * 40})
        assert forged.status_code == 401
        other_token, q3 = sealed(change("add_member", ["wmJack"]), token="WRONG")
        assert (await post(h, url, other_token, q3)).status_code == 401
        bomb = (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
            b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
            b"<xml><Encrypt>&lol3;</Encrypt></xml>"
        )
        res = await post(h, url, bomb, query)
        assert res.status_code == 400 and "DTD" in res.json()["error"]
        xxe = (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b"<xml><Encrypt>&e;</Encrypt></xml>"
        )
        assert (await post(h, url, xxe, query)).status_code == 400
        assert (await post(h, url, b"<xml><Encrypt>", query)).status_code == 400
        assert (await post(h, url, body, {})).status_code == 400  # no signature at all
        huge = b"<xml><Encrypt>" + b"A" * (600 * 1024) + b"</Encrypt></xml>"
        assert (await post(h, url, huge, query)).status_code == 413
        # Encrypted for another corp: the signature is right, the receive id is not.
        other = wecom.WeComConfig.model_validate({**CFG, "corp_id": "wwOTHERCORP"})
        enc = wecom.encrypt(other, change("add_member", ["wmX"]), os.urandom(16))
        env = f"<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>".encode()
        sig = wecom.msg_signature(CFG["token"], query["timestamp"], query["nonce"], enc)
        res = await post(h, url, env, {**query, "msg_signature": sig})
        assert res.status_code == 400 and "CorpID" in res.json()["error"]
        await h.drain()
        assert (await h.snapshot("sale", c["viewer_token"]))["totals"]["members"] == 0
        outcomes = [d["outcome"] for d in await log_of(h, url)]
        assert outcomes.count("signature") == 2 and "recorded" not in outcomes


async def test_wecom_config_is_checked_and_masked(settings) -> None:
    async with harness_for(settings) as h:
        await h.create_campaign()
        bad = await h.client.post(
            "/api/v1/campaigns/sale/sources",
            json={"kind": "wecom", "name": "x", "config": {**CFG, "encoding_aes_key": "short"}},
            headers=ADMIN_H,
        )
        assert bad.status_code == 422 and "encoding_aes_key" in bad.text
        await add(h)
        listed = (await h.client.get("/api/v1/campaigns/sale/sources", headers=ADMIN_H)).json()
        text = str(listed)
        assert CFG["encoding_aes_key"] not in text and "QDG6eK" not in text
        assert listed[0]["config"]["corp_id"] == CFG["corp_id"]
