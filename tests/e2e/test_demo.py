"""`warroom demo` end to end, as a user runs it: no REDIS_URL or DATABASE_URL, so the
embedded redis-server and a SQLite file are used; Ctrl-C (SIGINT) stops everything."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import psutil

from warroom.core.ingest.clock import to_ms
from warroom.core.ingest.money import format_wan
from warroom.demo import fire_of, is_fired
from warroom.demo_campaign import demo_settings
from warroom.simulator import Fire, generate_sale, lift_orders, lifted_expected

RULES = demo_settings("demo", 600, 0)["stimulus_rules"]

ADMIN = "demo-test-admin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_plays_a_sale_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(WARROOM_DATA_DIR=str(tmp_path / "data"), WARROOM_ADMIN_TOKEN=ADMIN)
    log = (tmp_path / "demo.log").open("w")
    cmd = [sys.executable, "-m", "warroom.cli", "demo", "--port", str(port), "--time-scale", "600"]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        snap = wait_for_orders(port, proc, limit_s=60)
        assert snap["totals"]["gmv_fen"] > 0
        assert snap["campaign"]["time_scale"] == 600
        wait_for_source_deliveries(port, proc, limit_s=60)
        # the demo made an owner and printed its email and one-time password: they sign in
        printed = (tmp_path / "demo.log").read_text()
        email = re.search(r"所有者邮箱\s+(\S+)", printed)
        password = re.search(r"一次性密码\s+(\S+)", printed)
        assert email and password, printed[-2000:]
        signed = httpx.post(
            f"http://127.0.0.1:{port}/admin/login",
            data={"email": email.group(1), "password": password.group(1)},
            timeout=30,
        )
        assert signed.status_code == 303, signed.text
        children = psutil.Process(proc.pid).children(recursive=True)
        redis_servers = [c for c in children if "redis-server" in c.name()]
        assert len(redis_servers) == 1, [c.name() for c in children]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=40) == 0
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"left running: {[(p.pid, p.name()) for p in alive]}"
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    out = (tmp_path / "demo.log").read_text()
    assert f"http://127.0.0.1:{port}/c/demo?token=" in out
    assert "/c/demo/host?token=" in out
    assert "成交 ¥" in out  # the live figures line
    # the console and the review are printed too; the terminal speaks the screens' words
    assert f"http://127.0.0.1:{port}/admin/c/demo" in out
    assert "/c/demo/review?token=" in out
    assert "connection open" not in out and "connection closed" not in out, out[-3000:]
    kinds = "scheduled|target_base|target_stretch|milestone|top|stimulus|final"
    assert not re.search(rf"\[({kinds})\]", out), out[-3000:]
    assert re.search(r"企业微信  http://127\.0\.0\.1:\d+/hooks/src_", out), out[:3000]
    assert re.search(r"商城推送  http://127\.0\.0\.1:\d+/hooks/src_", out), out[:3000]


def wait_for_source_deliveries(port: int, proc: subprocess.Popen[bytes], limit_s: float) -> None:
    """Both demo sources exist, and each delivery log shows recorded deliveries that
    accepted events; the snapshot then counts members (only WeCom sends them) and
    orders (only the shop push sends them)."""
    headers = {"Authorization": f"Bearer {ADMIN}"}
    base = f"http://127.0.0.1:{port}/api/v1/campaigns/demo"
    sources = httpx.get(f"{base}/sources", headers=headers, timeout=10).json()
    by_kind = {s["kind"]: s for s in sources}
    assert set(by_kind) == {"wecom", "mapped"}, sources
    deadline = time.monotonic() + limit_s
    accepted: dict[str, int] = {}
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"demo exited early with {proc.returncode}"
        for kind, source in by_kind.items():
            log = httpx.get(
                f"{base}/sources/{source['id']}/deliveries", headers=headers, timeout=10
            ).json()
            assert all(d["outcome"] == "recorded" for d in log), log[:3]
            assert not any(d["rejected"] for d in log), log[:3]
            accepted[kind] = sum(d["accepted"] for d in log)
        if all(accepted.get(k, 0) > 0 for k in by_kind):
            break
        time.sleep(0.5)
    assert all(accepted.get(k, 0) > 0 for k in by_kind), accepted
    snap = httpx.get(f"{base}/snapshot", headers=headers, timeout=10).json()
    assert snap["totals"]["members"] > 0 and snap["totals"]["orders"] > 0, snap["totals"]


def demo_fires(base: str, headers: dict[str, str]) -> list[Fire]:
    """The fires as the demo's simulator took them (demo.fire_of): each fired entry of
    the stimuli, with its assignment when the API serves one."""
    stimuli = httpx.get(f"{base}/stimuli", headers=headers, timeout=10).json()
    windows = {r["name"]: r.get("effect_minutes") or r["window_minutes"] for r in RULES}
    fires = []
    for entry in filter(is_fired, stimuli):
        res = httpx.get(f"{base}/stimuli/{entry['id']}/assignment", headers=headers, timeout=10)
        assignment = res.json() if res.status_code == 200 else None
        fires.append(fire_of(entry, assignment, windows))
    return fires


def wait_for_orders(port: int, proc: subprocess.Popen[bytes], limit_s: float) -> dict:
    url = f"http://127.0.0.1:{port}/api/v1/campaigns/demo/snapshot"
    deadline = time.monotonic() + limit_s
    last = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"demo exited early with {proc.returncode}"
        try:
            res = httpx.get(url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=5)
            if res.status_code == 200:
                last = res.json()
                if last["totals"]["orders"] > 0:
                    return last
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"no orders within {limit_s} s; last snapshot: {last}")


def test_demo_final_report_equals_the_totals_printed_after_it(tmp_path: Path) -> None:
    """The whole rehearsal at 600x: the final 战报 in the terminal says exactly the
    settled totals printed after it, and its `figures` are the snapshot's totals."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(WARROOM_DATA_DIR=str(tmp_path / "data"), WARROOM_ADMIN_TOKEN=ADMIN)
    log_path = tmp_path / "demo.log"
    log = log_path.open("w")
    cmd = [sys.executable, "-m", "warroom.cli", "demo", "--port", str(port), "--time-scale", "600"]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while "🏁 收官数据" not in log_path.read_text():
            assert proc.poll() is None, f"demo exited early with {proc.returncode}"
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.5)
        headers = {"Authorization": f"Bearer {ADMIN}"}
        base = f"http://127.0.0.1:{port}/api/v1/campaigns/demo"
        reports = httpx.get(f"{base}/reports", headers=headers, timeout=10).json()
        snap = httpx.get(f"{base}/snapshot", headers=headers, timeout=10).json()
        fires = demo_fires(base, headers)
        while "新订单" not in log_path.read_text():  # playback's last line, per path
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=40) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    out = log_path.read_text()
    final_text = out.split("📣 战报 · 收官战报", 1)[1].split("🏁 收官数据", 1)[0]
    after = out.split("🏁 收官数据", 1)[1].splitlines()[0]
    gmv = re.search(r"总成交 (¥[\d.,]+万?)", final_text)
    orders = re.search(r"📦 ([\d,]+) 单", final_text)
    assert gmv and orders, final_text
    assert f"成交 {gmv.group(1)} " in after, (final_text, after)
    # stamped with the sale's end (17:00, not the minute the report was read), no speed
    assert after.startswith(f" [{snap['campaign']['ends_at'][11:16]}] "), after
    assert "速度" not in after, after
    assert f"订单 {orders.group(1)} " in after, (final_text, after)
    final = next(r for r in reports if r["kind"] == "final")
    t = snap["totals"]
    for k in ("gmv_fen", "refund_fen", "net_gmv_fen", "orders", "buyers"):
        assert final["figures"][k] == t[k], k
    assert final["figures"]["as_of"] == snap["campaign"]["ends_at"]
    # The sale's totals are the simulator's, exactly, though orders and members came
    # through the sources: every order was new through the shop push (its answers),
    # every member event is WeCom's identity (the events API sent neither). The fires'
    # lift orders are in them: rebuilt here from the same API answers the demo read.
    starts_at = to_ms(datetime.fromisoformat(snap["campaign"]["starts_at"]))
    sale = generate_sale(starts_at)
    lifts = [lift_orders(sale, fire) for fire in fires]
    assert lifts and all(lift.orders for lift in lifts), fires  # the rain fired, and lifted
    for lift in lifts:  # each fire's lift was printed when the demo saw it
        assert f"注入 {len(lift.orders):,} 单 {format_wan(lift.injected_fen)}" in out, out[-3000:]
    expected = lifted_expected(sale.expected, lifts)
    for k in ("gmv_fen", "refund_fen", "orders", "items", "buyers", "members", "messages"):
        assert t[k] == expected[k], (k, t[k], expected[k])
    pushed = re.search(r"商城推送 [\d,]+ 次（新订单 ([\d,]+) 单）", out)
    assert pushed and int(pushed.group(1).replace(",", "")) == t["orders"], out[-2000:]
    with sqlite3.connect(tmp_path / "data" / "warroom.db") as db:
        kinds = dict(db.execute("SELECT type, count(*) FROM ledger_event GROUP BY type").fetchall())
        wecom = db.execute(
            "SELECT count(*) FROM ledger_event WHERE type = 'member' AND key LIKE 'member:wecom:%'"
        ).fetchone()[0]
    assert kinds["member"] == wecom > 0, (kinds, wecom)
