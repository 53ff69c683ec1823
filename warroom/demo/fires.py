"""The simulator learns of fires: each fired stimulus becomes a lift in its treated
groups, and its effect, once the product has it, is printed against what was put in."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx

from warroom.core.ingest.clock import parse_instant
from warroom.demo.terminal import effect_check_line, lift_line
from warroom.demo_campaign import DemoCampaign, demo_settings
from warroom.simulator import Fire, Stimulation, treated_of


def effect_windows(c: DemoCampaign) -> dict[str, int]:
    """Each rule's effect window (minutes), by rule name, from the demo's settings."""
    rules = demo_settings(c.slug, c.time_scale, c.starts_at_ms)["stimulus_rules"]
    return {r["name"]: r.get("effect_minutes") or r["window_minutes"] for r in rules}


DEFAULT_EFFECT_MINUTES = 10  # a fire of no known rule (by hand): a rule's default window


def fire_of(
    entry: dict[str, Any], assignment: dict[str, Any] | None, windows: dict[str, int]
) -> Fire:
    """A stimuli entry as the simulator takes it: its id and time, the effect window (the
    assignment's or the entry's `effect_minutes` when given, else its rule's), and the
    treated groups of its assignment (every group when there is none). The e2e test
    rebuilds the lifts with this, from the same API answers."""
    minutes = (assignment or {}).get("effect_minutes") or entry.get("effect_minutes")
    if not isinstance(minutes, int) or minutes < 1:
        minutes = windows.get(entry.get("rule") or "", DEFAULT_EFFECT_MINUTES)
    if assignment is None and isinstance(entry.get("assignment"), dict):
        assignment = entry["assignment"]
    return Fire(
        id=int(entry["id"]),
        at_ms=parse_instant(entry["at"]),
        effect_minutes=minutes,
        treated=treated_of(assignment),
        rule=str(entry.get("rule") or ""),
    )


def is_fired(entry: dict[str, Any]) -> bool:
    """A fire that happened (a proposal, dismissed or expired one never lifts sales)."""
    return bool(entry.get("status", "fired") == "fired")


async def _assignment(
    client: httpx.AsyncClient, c: DemoCampaign, fire_id: int, stop: asyncio.Event
) -> dict[str, Any] | None:
    """The fire's assignment (`…/stimuli/{id}/assignment`); None when there is no such
    route or fire (404). A failing server is asked again, a few times."""
    path = f"/api/v1/campaigns/{c.slug}/stimuli/{fire_id}/assignment"
    headers = {"Authorization": f"Bearer {c.viewer_token}"}
    for _ in range(10):
        try:
            res = await client.get(path, headers=headers)
        except httpx.HTTPError:
            res = None
        if res is not None and res.status_code == 200:
            body = res.json()
            return body if isinstance(body, dict) else None
        if res is not None and res.status_code in (404, 405):
            return None
        if stop.is_set():
            break
        await asyncio.sleep(0.5)
    return None


async def watch_fires(
    client: httpx.AsyncClient,
    c: DemoCampaign,
    stimulation: Stimulation,
    stop: asyncio.Event,
) -> None:
    """Poll the stimuli every few campaign seconds (at most every 0.2 s real): each new
    fired entry becomes a lift in its treated groups (`Stimulation.receive`), and its
    effect, once the product has it, is printed against what was put in."""
    path = f"/api/v1/campaigns/{c.slug}/stimuli"
    headers = {"Authorization": f"Bearer {c.viewer_token}"}
    windows = effect_windows(c)
    every_s = max(0.2, min(1.0, 5 / c.time_scale))
    shown: set[int] = set()
    while not stop.is_set():
        try:
            res = await client.get(path, headers=headers)
            entries = res.json() if res.status_code == 200 else []
        except (httpx.HTTPError, ValueError):
            entries = []
        for entry in entries if isinstance(entries, list) else []:
            if not is_fired(entry):
                continue
            fid = int(entry["id"])
            if fid not in stimulation.lifts:
                assignment = await _assignment(client, c, fid, stop)
                lift = stimulation.receive(fire_of(entry, assignment, windows))
                if lift is not None:
                    print(lift_line(lift), flush=True)
            elif entry.get("effect") and fid not in shown:
                shown.add(fid)
                print(effect_check_line(entry["effect"], stimulation.lifts[fid]), flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
