"""A held-out group's robot hears nothing of the stimulus, and the assignment is served
(issue 21; contract v3, "Stimulus that proves itself").

Real Redis, real SQL, real small HTTP receivers standing in for the group robots. A
fire with an assignment is written through the report store's own `claim_fire`, as the
fire path records it; its report goes out through the announcer's `announce_fire`, the
one path both a fresh fire and a late announcement take."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import ADMIN, Harness, harness_for
from tests.integration.receivers import ADMIN_H, Receiver, add_hook, fire
from warroom.adapters.outbound.delivery import Deliverer
from warroom.core.campaign import StimulusAction
from warroom.core.ingest.clock import minute_floor
from warroom.core.records import CampaignRecord
from warroom.core.reports.holdout import Assignment, assign, holdout_size
from warroom.core.reports.schedule import DueReport

HOOKS = "/api/v1/campaigns/sale/webhooks"
# Twelve groups with their sales so far (fen): what the holdout is drawn over.
SALES = {f"g{i:02d}": (13 - i) * 10_000 for i in range(1, 13)}
SEED = 20261111
SHARE = 0.25


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def drawn(groups: dict[str, int] = SALES, share: float = SHARE, seed: int = SEED) -> Assignment:
    return assign(groups, share, seed)


async def sale(h: Harness, slug: str = "sale") -> CampaignRecord:
    await h.create_campaign(slug=slug)
    record = await h.runtime.campaigns.get(slug)
    assert record is not None
    return record


def claim_fire(
    h: Harness,
    record: CampaignRecord,
    key: str,
    a: Assignment | None,
    status: str = "fired",
    text: str = "🧧 红包雨 5 分钟",
) -> int:
    """A fire row as the fire path records it (the assignment JSON, its seed, its share)."""
    at = record.settings.starts_at + 3 * 3_600_000
    claim = h.runtime.reports.claim_fire(
        campaign_id=record.id,
        key=key,
        rule="slump",
        kind="red_packet_rain",
        metric="gmv_per_min",
        window_minutes=10,
        at_ms=at,
        amount_fen=50_000,
        text=text,
        manual=False,
        status=status,
        assignment=orjson.dumps(a.as_dict()).decode() if a is not None else None,
        seed=a.seed if a is not None else None,
        holdout_share=a.share if a is not None else 0.0,
    )
    assert claim.won
    return int(claim.id)


async def announce(h: Harness, record: CampaignRecord, key: str) -> int:
    """Post the fire's `stimulus` report (settled figures as of the fire); its id."""
    f = next(f for f in h.runtime.reports.fires(record.id) if f.key == key)
    action = StimulusAction(kind=f.kind, amount_fen=f.amount_fen, text=f.text)
    item = await h.runtime.announcer.announce_fire(record, key, f.rule, action, f.at_ms, f.at_ms)
    assert item is not None and item["kind"] == "stimulus"
    return int(item["id"])


async def deliver_all(h: Harness) -> None:
    """Send every due delivery (bounded: each round sends or the queue is empty)."""
    rt = h.runtime
    d = Deliverer(rt.webhooks, rt.redis, allow_private=True)
    try:
        for _ in range(10):
            if await d.run_once() == 0:
                return
        raise AssertionError("deliveries still due after 10 rounds")
    finally:
        await d.close()


async def robots(h: Harness, receiver: Receiver, a: Assignment) -> dict[str, int]:
    """Three robots: one in no group, one in a treated group, one in a held-out group."""
    ids = {}
    for name, group in (
        ("plain", None),
        ("treated", a.treated[0]),
        ("held", a.holdout[0]),
    ):
        res = await h.client.post(
            HOOKS,
            json={"url": f"{receiver.url}/{name}", "format": "json", "group_id": group},
            headers=ADMIN_H,
        )
        assert res.status_code == 201, res.text
        assert res.json()["group_id"] == group
        ids[name] = res.json()["id"]
    return ids


def posted(receiver: Receiver) -> list[tuple[str, int]]:
    """(robot, report id) of every post the receiver got, sorted."""
    return sorted(
        (r["path"].rsplit("/", 1)[-1], orjson.loads(r["body"])["report"]["id"])
        for r in receiver.requests
    )


# -- no post to a held-out group's robot ---------------------------------------------------


async def test_a_held_out_groups_robot_gets_no_post(settings, receiver: Receiver) -> None:
    settings.warroom_allow_private_webhooks = True
    async with harness_for(settings) as h:
        record = await sale(h)
        a = drawn()
        assert len(a.holdout) == 3 and len(a.treated) == 9
        ids = await robots(h, receiver, a)
        claim_fire(h, record, "slump#1", a)
        report = await announce(h, record, "slump#1")

        # The claim wrote no delivery for the held-out group's robot: the log never
        # shows it for this report.
        log = h.runtime.webhooks.log(record.id)
        assert sorted(d["webhook_id"] for d in log if d["report_id"] == report) == sorted(
            [ids["plain"], ids["treated"]]
        )
        await deliver_all(h)
        assert posted(receiver) == [("plain", report), ("treated", report)]
        res = await h.client.get("/api/v1/campaigns/sale/deliveries", headers=ADMIN_H)
        assert {(d["webhook_id"], d["outcome"]) for d in res.json()} == {
            (ids["plain"], "sent"),
            (ids["treated"], "sent"),
        }

        # Any other report reaches every robot, the held-out group's too.
        at = record.settings.starts_at + 30 * 60_000
        due = DueReport("scheduled:1", "scheduled", at, {"slot": 1}, as_of_ms=minute_floor(at))
        scheduled = await h.runtime.announcer.post_report(record, due)
        assert scheduled is not None
        # So does a stimulus with no holdout (a manual fire: no assignment).
        await fire(h, "📣 满2件送1件")
        manual = next(
            r.id for r in h.runtime.reports.reports(record.id) if r.key.startswith("stimulus:man")
        )
        await deliver_all(h)
        got = posted(receiver)
        for robot in ("plain", "treated", "held"):
            assert (robot, scheduled["id"]) in got and (robot, manual) in got
        assert ("held", report) not in got
        assert len(got) == 2 + 3 + 3


async def test_a_late_announcement_skips_the_held_out_robot_too(
    settings, receiver: Receiver
) -> None:
    """A fire claimed with nobody told (its poster died, or figures were restoring) is
    announced by a later tick through the same `announce_fire`: still by its holdout,
    and still once."""
    settings.warroom_allow_private_webhooks = True
    async with harness_for(settings) as h:
        record = await sale(h)
        a = drawn(seed=7)
        await robots(h, receiver, a)
        claim_fire(h, record, "slump#1", a)
        report = await announce(h, record, "slump#1")
        f = next(f for f in h.runtime.reports.fires(record.id))
        action = StimulusAction(kind=f.kind, amount_fen=f.amount_fen, text=f.text)
        again = await h.runtime.announcer.announce_fire(
            record, f.key, f.rule, action, f.at_ms, f.at_ms
        )
        assert again is None  # the claim keeps it to one
        await deliver_all(h)
        assert posted(receiver) == [("plain", report), ("treated", report)]


def test_claim_report_skips_only_the_bound_targets_of_the_held_out_groups(
    settings,
) -> None:
    """claim_report(skip_groups=...) on the store itself: a holdout of thousands of
    groups, a disabled target, a target in another campaign's group of the same id."""
    from warroom.adapters.outbound.webhook import WebhookStore
    from warroom.adapters.sql.engine import make_engine
    from warroom.adapters.sql.report_store import ReportStore
    from warroom.adapters.sql.tables import WebhookRow

    engine = make_engine(settings.database_url)
    try:
        reports, hooks = ReportStore(engine), WebhookStore(engine)
        url = "https://example.com/hook"
        plain = hooks.add(1, url, "json", "")
        treated = hooks.add(1, url, "json", "", "g-treated")
        held = hooks.add(1, url, "json", "", "g-0042")
        off = hooks.add(1, url, "json", "", "g-treated")
        elsewhere = hooks.add(2, url, "json", "", "g-0042")
        t = WebhookRow.__table__
        with engine.begin() as conn:
            conn.execute(t.update().where(t.c.id == off).values(enabled=False))
        holdout = [f"g-{i:04d}" for i in range(5000)]
        c = reports.claim_report(1, "stimulus:a", "stimulus", 0, "t", "{}", skip_groups=holdout)
        other = reports.claim_report(2, "stimulus:a", "stimulus", 0, "t", "{}")
        again = reports.claim_report(1, "stimulus:a", "stimulus", 0, "t", "{}")
        assert c.won and other.won and not again.won and again.id == c.id
        assert sorted(d["webhook_id"] for d in hooks.log(1)) == sorted([plain, treated])
        assert [d["webhook_id"] for d in hooks.log(2)] == [elsewhere]
        assert held not in {d["webhook_id"] for d in hooks.log(1)}
        assert [h.group_id for h in hooks.list(1)] == [None, "g-treated", "g-0042", "g-treated"]
    finally:
        engine.dispose()


# -- the assignment, served ----------------------------------------------------------------


def assignment_url(fire_id: int | str, slug: str = "sale") -> str:
    return f"/api/v1/campaigns/{slug}/stimuli/{fire_id}/assignment"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_assignment_is_served_whole_disjoint_and_replayable(harness: Harness) -> None:
    h = harness
    created = await h.create_campaign()
    record = await h.runtime.campaigns.get("sale")
    assert record is not None
    viewer = bearer(created["viewer_token"])
    groups = {f"群-{i}": (i * 7919) % 100_003 for i in range(1, 201)}
    for share, seed in ((0.1, 1), (0.25, 99), (0.5, 2**61 + 3)):
        a = assign(groups, share, seed)
        fire_id = claim_fire(h, record, f"slump#{seed}", a)
        res = await h.client.get(assignment_url(fire_id), headers=viewer)
        assert res.status_code == 200, res.text
        body = res.json()
        assert set(body) == {"treated", "holdout", "seed", "share", "everyone"}
        assert body["seed"] == seed and body["share"] == share and body["everyone"] is False
        treated, held = set(body["treated"]), set(body["holdout"])
        assert len(held) == holdout_size(len(groups), share) == len(body["holdout"])
        assert len(treated) == len(groups) - len(held) == len(body["treated"])
        assert not treated & held and treated | held == set(groups)
        # The seed replays the draw: the same groups and sales give the same arms.
        again = assign(groups, body["share"], body["seed"])
        assert (list(again.treated), list(again.holdout)) == (body["treated"], body["holdout"])


async def test_a_fire_with_no_holdout_reached_everyone(harness: Harness) -> None:
    h = harness
    created = await h.create_campaign()
    record = await h.runtime.campaigns.get("sale")
    assert record is not None
    viewer = bearer(created["viewer_token"])
    plain = claim_fire(h, record, "slump#1", None)
    res = await h.client.get(assignment_url(plain), headers=viewer)
    assert res.status_code == 200, res.text
    assert res.json() == {
        "treated": [],
        "holdout": [],
        "seed": None,
        "share": 0,
        "everyone": True,
    }
    # A draw over a single group holds nobody out: listed, and everyone heard it.
    one = claim_fire(h, record, "slump#2", assign({"g1": 5}, 0.3, 11))
    body = (await h.client.get(assignment_url(one), headers=viewer)).json()
    assert body == {"treated": ["g1"], "holdout": [], "seed": 11, "share": 0.3, "everyone": True}


async def test_unknown_others_and_unfired_stimuli(harness: Harness) -> None:
    h = harness
    created = await h.create_campaign()
    record = await h.runtime.campaigns.get("sale")
    other = await sale(h, "other")
    assert record is not None
    viewer = bearer(created["viewer_token"])
    mine = claim_fire(h, record, "slump#1", drawn())
    theirs = claim_fire(h, other, "slump#1", drawn())
    proposed = claim_fire(h, record, "slump#2", drawn(), status="proposed")
    dismissed = claim_fire(h, record, "slump#3", None, status="dismissed")
    expired = claim_fire(h, record, "slump#4", None, status="expired")

    assert (await h.client.get(assignment_url(mine), headers=viewer)).status_code == 200
    for fire_id in (theirs, 999_999, 0, -1):
        res = await h.client.get(assignment_url(fire_id), headers=viewer)
        assert res.status_code == 404, (fire_id, res.text)
        assert "no stimulus" in res.json()["error"]
    # Another campaign's fire asked under its own campaign, with this one's token: 401.
    res = await h.client.get(assignment_url(theirs, "other"), headers=viewer)
    assert res.status_code == 401
    res = await h.client.get(assignment_url(theirs, "other"), headers=ADMIN_H)
    assert res.status_code == 200
    res = await h.client.get(assignment_url("abc"), headers=viewer)
    assert res.status_code == 422
    res = await h.client.get(assignment_url(proposed), headers=viewer)
    assert (res.status_code, res.json()["error"]) == (409, "not fired yet")
    for fire_id, status in ((dismissed, "dismissed"), (expired, "expired")):
        res = await h.client.get(assignment_url(fire_id), headers=viewer)
        assert (res.status_code, res.json()["error"]) == (409, f"never fired ({status})")


async def make_link(h: Harness, **body: Any) -> str:
    res = await h.client.post("/api/v1/campaigns/sale/links", json=body, headers=ADMIN_H)
    assert res.status_code == 201, res.text
    return str(res.json()["token"])


async def test_who_may_read_an_assignment(harness: Harness) -> None:
    h = harness
    created = await h.create_campaign()
    other = await h.create_campaign(slug="other")
    record = await h.runtime.campaigns.get("sale")
    assert record is not None
    fire_id = claim_fire(h, record, "slump#1", drawn())
    url = assignment_url(fire_id)
    review = await make_link(h, kind="review")
    wall = await make_link(h, kind="wall")
    masked = await make_link(h, kind="wall", masked=True)
    host = await make_link(h, kind="host", seller_id="s1")

    async def status(headers: dict[str, str] | None = None, query: str = "") -> int:
        res = await h.client.get(url + query, headers=headers or {})
        if res.status_code != 200:
            assert "holdout" not in res.text and "g0" not in res.text, res.text
        return res.status_code

    assert await status(bearer(created["viewer_token"])) == 200
    assert await status(ADMIN_H) == 200
    assert await status(bearer(review)) == 200
    assert await status(query=f"?token={review}") == 200  # the link's own form
    assert await status(bearer(masked)) == 403
    assert await status(query=f"?token={masked}") == 403
    assert await status(bearer(wall)) == 403
    assert await status(bearer(host)) == 403
    assert await status() == 401
    assert await status(bearer("wrong")) == 401
    assert await status(bearer(created["ingest_token"])) == 401
    assert await status(bearer(other["viewer_token"])) == 401
    # An unknown campaign answers as a wrong token, except to the admin.
    res = await h.client.get(assignment_url(fire_id, "nosuch"), headers=bearer("x"))
    assert res.status_code == 401
    res = await h.client.get(assignment_url(fire_id, "nosuch"), headers=ADMIN_H)
    assert res.status_code == 404


# -- a robot's group: hostile input --------------------------------------------------------

HTML = "<script>alert(1)</script><img src=x onerror=alert(2)>"
EMOJI = "🎉团购群👨‍👩‍👧"
RTL = "مجموعة-١٢"  # right-to-left letters: an id like any other


async def listed(h: Harness) -> list[dict[str, Any]]:
    res = await h.client.get(HOOKS, headers=ADMIN_H)
    assert res.status_code == 200, res.text
    return list(res.json())


@pytest.mark.parametrize(
    ("group_id", "why"),
    [
        ("x" * 10_240, "group_id: must be 1..128 characters, got 10240"),
        ("x" * 129, "group_id: must be 1..128 characters, got 129"),
        ("", "group_id: must be 1..128 characters, got 0"),
        (" g1", "group_id: must not start or end with spaces"),
        ("\u202eg1", "group_id: must not contain control or bidi-override characters"),
        ("g1\u2066x", "group_id: must not contain control or bidi-override characters"),
        ("g\x001", "group_id: must not contain control or bidi-override characters"),
        ("g\n1", "group_id: must not contain control or bidi-override characters"),
        (True, "group_id"),
        (1.5, "group_id"),
        (["g1"], "group_id"),
        ({"id": "g1"}, "group_id"),
    ],
    ids=lambda v: repr(v)[:24],
)
async def test_a_bad_group_id_is_a_clear_422_and_stores_nothing(
    harness: Harness, group_id: Any, why: str
) -> None:
    h = harness
    await h.create_campaign()
    body = {"url": "https://example.com/hook", "format": "json", "group_id": group_id}
    res = await h.client.post(HOOKS, json=body, headers=ADMIN_H)
    assert res.status_code == 422, res.text
    assert res.json()["error"].startswith(why), res.text
    assert await listed(h) == []


async def test_odd_but_valid_group_ids_are_stored_exactly(harness: Harness) -> None:
    h = harness
    await h.create_campaign()
    for group_id in (HTML[:100], EMOJI, RTL, 12345, "x" * 100, None):
        body = {"url": "https://example.com/hook", "format": "wecom", "group_id": group_id}
        res = await h.client.post(HOOKS, json=body, headers=ADMIN_H)
        assert res.status_code == 201, res.text
        expected = None if group_id is None else str(group_id)
        assert res.json()["group_id"] == expected
    got = [x["group_id"] for x in await listed(h)]
    assert got == [HTML[:100], EMOJI, RTL, "12345", "x" * 100, None]
    # Omitted: no group, as before.
    res = await add_hook(h, "https://example.com/other", "json")
    assert res.status_code == 201 and res.json()["group_id"] is None


# -- the console's form ----------------------------------------------------------------------


async def console(h: Harness) -> tuple[httpx.AsyncClient, str]:
    import re

    res = await h.client.post("/admin/login", data={"token": ADMIN})
    assert res.status_code == 303, res.text
    m = re.search(r'name="csrf_token" value="([^"]+)"', (await h.client.get("/admin")).text)
    assert m
    return h.client, m.group(1)


async def test_the_console_form_binds_a_robot_to_its_group(harness: Harness) -> None:
    h = harness
    await h.create_campaign()
    c, csrf = await console(h)
    page = (await c.get("/admin/c/sale/webhooks")).text
    assert "所在群 ID（可选）" in page and 'name="group_id"' in page
    assert "刺激把这个群留作对照组时，这次刺激播报不会推送到这里" in page  # its hint

    def form(group_id: str) -> dict[str, str]:
        url = "https://example.com/hook"
        return {"csrf_token": csrf, "url": url, "format": "json", "group_id": group_id}

    res = await c.post("/admin/c/sale/webhooks", data=form("  g-07  "))
    assert res.status_code == 200, res.text
    res = await c.post("/admin/c/sale/webhooks", data=form(HTML[:100]))
    assert res.status_code == 200, res.text
    res = await c.post("/admin/c/sale/webhooks", data=form(""))
    assert res.status_code == 200, res.text
    assert [x["group_id"] for x in await listed(h)] == ["g-07", HTML[:100], None]
    page = (await c.get("/admin/c/sale/webhooks")).text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    for bad, said in (
        ("y" * 10_240, "群 ID 最多 128 个字符"),
        ("g\u202e1", "群 ID 不能含控制字符或文字方向控制符"),
    ):
        res = await c.post("/admin/c/sale/webhooks", data=form(bad))
        assert res.status_code == 422, res.text[:300]
        assert said in res.text
    assert len(await listed(h)) == 3
