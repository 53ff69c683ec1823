"""Past one machine, as an operator runs it: a 3-node Redis Cluster, two `warroom web`
and two `warroom worker` processes started together on one database (PostgreSQL when
DATABASE_URL names one, else a SQLite file), a generated sale posted through both web
processes while viewers watch on both, one worker killed with SIGKILL mid-stream and
started again. Totals, leaderboards and per-minute rows are compared with a plain
recomputation from the events; every report exists once in SQL and reaches each
viewer once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.live import ROOT, WebProcess, WsClient, iso, ws_url
from tests.conftest import ADMIN, clean_settings
from tests.redis_cluster import LocalCluster
from tests.reference import reference
from warroom.settings import Settings


class WorkerProcess:
    def __init__(self, settings: Settings, log_dir: Path, env: dict[str, str]) -> None:
        self.settings = settings
        self.log_path = log_dir / f"worker-{id(self)}.log"
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ)
        env.update(
            REDIS_URL=str(self.settings.redis_url),
            DATABASE_URL=str(self.settings.database_url),
            WARROOM_ADMIN_TOKEN=ADMIN,
            WARROOM_DATA_DIR=str(self.settings.warroom_data_dir),
            WARROOM_RECLAIM_IDLE_S="1",
            PYTHONUNBUFFERED="1",
            **self.env,
        )
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "warroom.cli", "worker"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path / "cluster") as c:
        yield c


def sale(n: int, starts: datetime, seed: int = 5) -> list[dict[str, Any]]:
    """Orders, refunds and messages stamped in the campaign's first minutes."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for i in range(n):
        at = starts + timedelta(seconds=rng.randrange(240))
        events.append(
            {
                "type": "order",
                "order_id": f"o{i}",
                "amount_fen": rng.choice([990, 2990, 5800, 12800]),
                "seller_id": f"s{rng.randrange(15)}",
                "seller_name": f"团长{rng.randrange(15)}号",
                "group_id": f"g{rng.randrange(30)}",
                "product_id": f"p{rng.randrange(20)}",
                "buyer_id": f"b{rng.randrange(n // 3)}",
                "ts": iso(at),
            }
        )
        if i % 9 == 0:
            events.append(
                {"type": "message", "message_id": f"m{i}", "group_id": "g1", "member_id": f"u{i}"}
                | {"ts": iso(at)}
            )
    for j in range(n // 20):
        events.append(
            {
                "type": "refund",
                "refund_id": f"r{j}",
                "order_id": f"o{rng.randrange(n)}",
                "amount_fen": 500,
                "ts": iso(starts + timedelta(seconds=250)),
            }
        )
    rng.shuffle(events)
    return events


def comparable(snap: dict[str, Any]) -> dict[str, Any]:
    """Totals, per-minute rows and leaderboards without prev_rank (the live clock
    moves recent minutes under it) and names."""
    boards = {
        b: [{k: r[k] for k in ("id", "net_gmv_fen", "orders", "rank")} for r in rows]
        for b, rows in snap["leaderboards"].items()
    }
    return {"totals": snap["totals"], "per_minute": snap["per_minute"], "boards": boards}


async def test_two_webs_two_workers_on_a_cluster_behave_as_one(
    cluster: LocalCluster, database_url: str, tmp_path: Path
) -> None:
    cluster.flushall()
    settings = clean_settings(cluster.url, database_url, tmp_path, warroom_redis_cluster=True)
    env = {"WARROOM_REDIS_CLUSTER": "true", "WARROOM_WS_FRAMES_PER_S": "4"}
    webs = [WebProcess(settings, tmp_path, env) for _ in range(2)]
    workers = [WorkerProcess(settings, tmp_path, env) for _ in range(2)]
    try:
        # All four start together (schema, streams and groups must not race).
        for w in workers:
            w.start()
        await asyncio.gather(*(asyncio.to_thread(w.start, 60.0) for w in webs))
        await _run_sale(webs, workers)
    finally:
        for w in webs:
            w.stop()
        for w in workers:
            w.stop()
        logs = "\n".join(p.log_path.read_text(errors="replace")[-3000:] for p in workers)
        if any("Traceback" in p.log_path.read_text(errors="replace") for p in workers):
            print(logs)


async def _run_sale(webs: list[WebProcess], workers: list[WorkerProcess]) -> None:
    starts = datetime.now(UTC).replace(microsecond=0)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(timeout=30) as client:
        res = await client.post(
            f"{webs[0].url}/api/v1/campaigns",
            headers=admin,
            json={
                "slug": "scale",
                "name": "多进程演练",
                "starts_at": iso(starts),
                "ends_at": iso(starts + timedelta(hours=6)),
                "target_base_fen": 2_000_000,
                "target_stretch_fen": 4_000_000,
                "milestones_fen": [500_000, 1_000_000],
                "report_every_minutes": 1,
                "time_scale": 60,
            },
        )
        assert res.status_code == 201, res.text
        c = res.json()
        events = sale(1500, starts)
        viewers = [WsClient(ws_url(w, "scale", c["viewer_token"])) for w in webs for _ in (1, 2)]
        async with contextlib.AsyncExitStack() as ctx:
            for v in viewers:
                await ctx.enter_async_context(v)
            ingest = {"Authorization": f"Bearer {c['ingest_token']}"}
            batches = [events[i : i + 25] for i in range(0, len(events), 25)]
            for n, batch in enumerate(batches):
                if n == len(batches) // 2:
                    workers[0].kill()  # mid-stream: its pending entries must be taken over
                if n == 3 * len(batches) // 4:
                    workers[0].start()
                web = webs[n % 2]
                res = await client.post(
                    f"{web.url}/api/v1/campaigns/scale/events", headers=ingest, json=batch
                )
                assert res.status_code == 202, res.text
                assert not res.json()["rejected"], res.text
            want = reference(events)
            want_cmp = {
                "totals": want["totals"],
                "per_minute": want["per_minute"],
                "boards": {
                    b: [{k: r[k] for k in ("id", "net_gmv_fen", "orders", "rank")} for r in rows]
                    for b, rows in want["leaderboards"].items()
                },
            }
            deadline = time.monotonic() + 120
            while True:
                res = await client.get(
                    f"{webs[1].url}/api/v1/campaigns/scale/snapshot",
                    headers={"Authorization": f"Bearer {c['viewer_token']}"},
                )
                got = comparable(res.json())
                if got == want_cmp:
                    break
                assert time.monotonic() < deadline, (got["totals"], want_cmp["totals"])
                await asyncio.sleep(0.2)
            # Reports: the milestones fell; every report is in SQL once (unique keys)
            # and reaches each viewer once, whichever web process it is on.
            deadline = time.monotonic() + 120
            while True:
                res = await client.get(
                    f"{webs[0].url}/api/v1/campaigns/scale/reports",
                    headers={"Authorization": f"Bearer {c['viewer_token']}"},
                )
                reports = res.json()
                kinds = [r["kind"] for r in reports]
                if kinds.count("milestone") >= 2:
                    break
                assert time.monotonic() < deadline, kinds
                await asyncio.sleep(0.5)
            ids = [r["id"] for r in reports]
            assert len(ids) == len(set(ids))
            for v in viewers:
                for rid in ids:
                    await v.wait_for(
                        lambda f, rid=rid: (
                            f["type"] == "report"
                            and f["report"]["id"] == rid
                            or f["type"] == "snapshot"
                            and rid in [r["id"] for r in f.get("reports", [])]
                        ),
                        timeout=60,
                    )
                seen = [f["report"]["id"] for f in v.of_type("report")]
                assert len(seen) == len(set(seen)), seen
