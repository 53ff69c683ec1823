"""Who a stimulus reached (contract v3, "Stimulus that proves itself"):
`GET /api/v1/campaigns/{slug}/stimuli/{id}/assignment` answers the fire's recorded
assignment, `{"treated": [group ids], "holdout": [group ids], "seed": n, "share": x,
"everyone": false}`.

- A fire with no holdout (no draw recorded: a rule without `holdout_share`, a manual
  fire, a fire from before contract v3) answers `{"treated": [], "holdout": [], "seed":
  null, "share": 0, "everyone": true}`: the stimulus was announced to every group, and
  the empty lists mean "not listed", not "nobody". `everyone` is true too when a draw
  was recorded but held nobody out (fewer than two groups), with its lists and seed.
- A proposal not fired yet answers 409 `not fired yet`; a dismissed or expired one 409
  `never fired (dismissed)` / `(expired)`: nothing was announced, nobody was assigned.
- An unknown id, or a fire of another campaign, answers 404.

Access: the `review` area (core/links.py): the viewer token, the admin, or a review
link. A wall link (masked or not) and a host link hear 403: which groups were held
out is the experiment's working, for the people who read its result, not for a screen
in a room or for a host who must not learn that their group was left out."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Request

from warroom.web import deps
from warroom.web.errors import ApiError, JSONBytes

router = APIRouter(prefix="/api/v1/campaigns/{slug}")

EVERYONE: dict[str, Any] = {
    "treated": [],
    "holdout": [],
    "seed": None,
    "share": 0,
    "everyone": True,
}


def assignment_view(status: str, assignment: str | None, seed: int | None, share: float) -> Any:
    """The answer for one fire row's fields (see the module docstring)."""
    if status == "proposed":
        raise ApiError(409, "not fired yet")
    if status != "fired":
        raise ApiError(409, f"never fired ({status})")
    if not assignment:
        return dict(EVERYONE)
    data = orjson.loads(assignment)
    treated = sorted(str(g) for g in data.get("treated") or ())
    holdout = sorted(str(g) for g in data.get("holdout") or ())
    drawn_seed = data.get("seed", seed)
    return {
        "treated": treated,
        "holdout": holdout,
        "seed": int(drawn_seed) if drawn_seed is not None else None,
        "share": float(data.get("share", share) or 0),
        "everyone": not holdout,
    }


@router.get("/stimuli/{fire_id}/assignment")
async def fire_assignment(
    request: Request, slug: str, fire_id: int, rt: deps.RuntimeDep
) -> JSONBytes:
    record = await deps.campaign(request, slug)
    await deps.viewer_access(request, record, "review")
    # one row, whatever its status (a proposal answers 409, not 404)
    fire = await asyncio.to_thread(rt.reports.fire, record.id, fire_id)
    if fire is None:  # unknown, or another campaign's: the same answer
        raise ApiError(404, f"no stimulus {fire_id} in this campaign")
    return JSONBytes(assignment_view(fire.status, fire.assignment, fire.seed, fire.holdout_share))
