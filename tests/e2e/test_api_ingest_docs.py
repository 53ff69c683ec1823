"""docs/api.md and /api/docs are enough to integrate (issue 23, point 10): the OpenAPI
document describes the ingest body (the four event types, JSON and NDJSON) and its
answer; the documented examples are accepted as written; a form body is a clear 415;
a request of bad events only is still 202 with every index in `rejected`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from tests.conftest import Harness

API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"
EVENTS = "/api/v1/campaigns/{slug}/events"


def heredoc(tag: str) -> bytes:
    """The body of the first curl example fed by `<<'TAG'` in docs/api.md."""
    text = API_MD.read_text(encoding="utf-8")
    match = re.search(rf"<<'{tag}'\n(.*?)\n{tag}\n", text, re.S)
    assert match, f"docs/api.md has no <<'{tag}' curl example"
    return match.group(1).encode()


def test_the_docs_python_example_compiles() -> None:
    text = API_MD.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert any("httpx.post" in b for b in blocks)
    for block in blocks:
        compile(block, "docs/api.md", "exec")


async def sale(harness: Harness) -> dict[str, str]:
    # A rehearsal clock starts at starts_at, so the examples' `ts` (10:01, 10:02 on the
    # sale's day) are inside the window whatever today's date.
    return await harness.create_campaign(time_scale=2)


async def test_openapi_describes_the_ingest_body_and_answer(harness: Harness) -> None:
    spec = (await harness.client.get("/api/openapi.json")).json()
    op = spec["paths"][EVENTS]["post"]
    content = op["requestBody"]["content"]
    assert set(content) == {"application/json", "application/x-ndjson"}

    def event_types(schema: dict[str, Any]) -> set[str]:
        assert schema["discriminator"]["propertyName"] == "type"
        return {v["properties"]["type"]["const"] for v in schema["oneOf"]}

    four = {"order", "refund", "message", "member"}
    body = content["application/json"]["schema"]
    array, single = body["anyOf"]
    assert array["type"] == "array" and event_types(array["items"]) == four
    assert event_types(single) == four  # one event object is taken too
    assert event_types(content["application/x-ndjson"]["schema"]) == four
    order = next(v for v in single["oneOf"] if v["properties"]["type"]["const"] == "order")
    assert set(order["required"]) == {
        "type", "order_id", "amount_fen", "seller_id", "group_id", "buyer_id", "product_id"
    }  # fmt: skip
    props = order["properties"]
    assert props["amount_fen"]["type"] == "integer" and props["amount_fen"]["minimum"] == 1
    assert {s["type"] for s in props["order_id"]["anyOf"]} == {"string", "integer"}
    assert {s["type"] for s in props["ts"]["anyOf"]} == {"string", "integer", "null"}
    # The 202 answer's shape, and a readable error shape for the 415.
    ok = op["responses"]["202"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/IngestAnswer"}
    answer = spec["components"]["schemas"]["IngestAnswer"]
    assert set(answer["required"]) == {"accepted", "duplicates", "rejected"}
    assert "415" in op["responses"]
    # Swagger's "Try it out" example is accepted as shown.
    h = await sale(harness)
    example = content["application/json"]["example"]
    res = await harness.post_events("sale", h["ingest_token"], example)
    assert res.json() == {"accepted": len(example), "duplicates": 0, "rejected": []}
    lines = content["application/x-ndjson"]["example"].encode()
    res = await harness.post_events("sale", h["ingest_token"], lines, ndjson=True)
    assert res.json() == {"accepted": 0, "duplicates": 2, "rejected": []}


async def test_the_docs_curl_examples_are_accepted(harness: Harness) -> None:
    h = await sale(harness)
    token = h["ingest_token"]
    events = orjson.loads(heredoc("JSON"))
    assert {e["type"] for e in events} == {"order", "refund", "message", "member"}
    res = await harness.client.post(
        "/api/v1/campaigns/sale/events",
        content=heredoc("JSON"),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert res.status_code == 202, res.text
    assert res.json() == {"accepted": len(events), "duplicates": 0, "rejected": []}
    res = await harness.post_events("sale", token, heredoc("NDJSON"), ndjson=True)
    assert res.status_code == 202, res.text
    assert res.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    await harness.drain()
    snap = await harness.snapshot("sale", h["viewer_token"])
    assert snap["totals"]["orders"] == 2


async def test_a_form_body_is_415_and_records_nothing(harness: Harness) -> None:
    h = await sale(harness)
    auth = {"Authorization": f"Bearer {h['ingest_token']}"}
    url = "/api/v1/campaigns/sale/events"
    order = {
        "type": "order", "order_id": "o-1", "amount_fen": "100", "seller_id": "s",
        "group_id": "g", "buyer_id": "b", "product_id": "p",
    }  # fmt: skip
    for res in (
        await harness.client.post(url, data=order, headers=auth),
        await harness.client.post(url, files={"events": ("e.json", orjson.dumps([order]))}, headers=auth),
    ):  # fmt: skip
        assert res.status_code == 415, res.text
        error = res.json()["error"]
        assert "send JSON (application/json) or NDJSON (application/x-ndjson)" in error
        assert "invalid literal" not in error
    # A wrong token is still 401 first (a form never reveals a campaign).
    res = await harness.client.post(url, data=order, headers={"Authorization": "Bearer no"})
    assert res.status_code == 401
    # A JSON body without a content type (or with an unknown one) is read as today.
    good = {**order, "amount_fen": 100}
    for ctype in (None, "text/plain"):
        headers = dict(auth) | ({"Content-Type": ctype} if ctype else {})
        res = await harness.client.post(url, content=orjson.dumps(good), headers=headers)
        assert res.status_code == 202, res.text
    await harness.drain()
    snap = await harness.snapshot("sale", h["viewer_token"])
    assert snap["totals"]["orders"] == 1  # only the JSON post; the forms recorded nothing


async def test_only_bad_events_is_202_with_every_index_rejected(harness: Harness) -> None:
    h = await sale(harness)
    bad: list[Any] = [
        {"type": "order", "order_id": "o-1"},  # fields missing
        {"type": "sale"},  # no such type
        "not an object",
        {"type": "refund", "refund_id": "r-1", "order_id": "o-1", "amount_fen": 1.5},
        {"type": "member", "event_id": "e", "group_id": "g", "member_id": "m", "action": "quit"},
        {"type": "message", "message_id": "m", "group_id": "g", "member_id": "u",
         "ts": "2020-01-01T00:00:00Z"},  # outside the campaign's window
    ]  # fmt: skip
    res = await harness.post_events("sale", h["ingest_token"], bad)
    assert res.status_code == 202, res.text
    answer = res.json()
    assert answer["accepted"] == 0 and answer["duplicates"] == 0
    assert [r["index"] for r in answer["rejected"]] == list(range(len(bad)))
    errors = [r["error"] for r in answer["rejected"]]
    assert errors[0] == "amount_fen: is required"
    assert errors[1].startswith("type:")
    assert errors[2] == "event must be a JSON object"
    assert errors[3].startswith("amount_fen:")
    assert errors[4].startswith("action:")
    assert "outside the campaign's window" in errors[5]
    # NDJSON: the index counts non-blank lines; a line that is not JSON is one entry.
    lines = b'{"type": "order"}\n\nnot json\n'
    res = await harness.post_events("sale", h["ingest_token"], lines, ndjson=True)
    assert res.status_code == 202
    assert res.json()["rejected"] == [
        {"index": 0, "error": "order_id: is required"},
        {"index": 1, "error": "line is not valid JSON"},
    ]
