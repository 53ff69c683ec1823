"""Every Redis name Warroom uses. One campaign's keys share the hash tag `{slug}` so
they live on one Redis Cluster slot and one Lua script may touch them all."""

from __future__ import annotations

from warroom.core.live.aggregate import BOARDS, BatchPlan
from warroom.core.live.group_health import group_health_keys

CAMPAIGNS = "wr:campaigns"  # set of slugs the workers watch
CHANGED_CHANNEL = "wr:changed"  # pub/sub hint: a campaign's hot state moved
APPENDED_CHANNEL = "wr:appended"  # pub/sub hint: a campaign's stream has a new entry
AGG_GROUP = "agg"
# Set by the restorer after each full check: gone means Redis was emptied (FLUSHALL, a
# new server), so every campaign is checked at once rather than at the next full pass.
ALIVE = "wr:alive"


def prefix(slug: str) -> str:
    return f"wr:{{{slug}}}:"


def stream(slug: str) -> str:
    return prefix(slug) + "events"


def dead_letters(slug: str) -> str:
    return prefix(slug) + "dead"


def pending_events(slug: str) -> str:
    """Events in the stream not yet acknowledged by the aggregator: raised with each
    append, lowered with each first acknowledgement, atomically (streams.py)."""
    return prefix(slug) + "pending"


# Hot state lives under a generation: `wr:{slug}:g:<n>:...`, the live `n` in `gen`.
# A rebuild writes generation n+1 beside the live one (its number in `gen:next`) and
# flips `gen` in one step; a missing `gen` means the hot state was lost (restoring).


def generation(slug: str) -> str:
    return prefix(slug) + "gen"


def next_generation(slug: str) -> str:
    return prefix(slug) + "gen:next"


def generation_seq(slug: str) -> str:
    return prefix(slug) + "gen:seq"


def gen_prefix(slug: str, gen: int) -> str:
    return f"{prefix(slug)}g:{gen}:"


def gen_pattern(slug: str, gen: int) -> str:
    return gen_prefix(slug, gen).replace("{", "\\{").replace("}", "\\}") + "*"


def totals(slug: str, gen: int) -> str:
    return gen_prefix(slug, gen) + "tot"


def minute_metric(slug: str, gen: int, metric: str) -> str:
    return gen_prefix(slug, gen) + "m:" + metric


def board(slug: str, gen: int, board_name: str) -> str:
    return gen_prefix(slug, gen) + "lb:" + board_name


def board_orders(slug: str, gen: int, board_name: str) -> str:
    return board(slug, gen, board_name) + ":o"


def board_names(slug: str, gen: int, board_name: str) -> str:
    return board(slug, gen, board_name) + ":n"


def board_prev(slug: str, gen: int, board_name: str) -> str:
    """Scores before the recent minutes (for prev_rank), folded forward minute by minute."""
    return board(slug, gen, board_name) + ":prev"


def prev_from(slug: str, gen: int) -> str:
    """The first minute not yet folded into the `prev` boards."""
    return gen_prefix(slug, gen) + "lbprev:from"


def board_minute(slug: str, gen: int, board_name: str, minute_ms: int) -> str:
    return board(slug, gen, board_name) + ":m:" + str(minute_ms)


def claim(slug: str, name: str) -> str:
    return prefix(slug) + "claim:" + name


def feed(slug: str, kind: str) -> str:
    """Recent battle reports (`reports`) or stimulus fires (`stimuli`): a list of JSON
    objects, oldest first, trimmed to the newest FEED_KEEP. SQL holds the full record."""
    return prefix(slug) + "feed:" + kind


FEED_KEEP = 50


def webhook_sent(webhook_id: int) -> str:
    """Sorted set of recent POST times to one robot (rate limit: 20 a minute)."""
    return f"wr:webhook:{webhook_id}:sent"


def probe(slug: str | None = None) -> str:
    """A throwaway key written to test that Redis still takes writes (a full Redis with
    `noeviction` refuses them while it still answers reads)."""
    return prefix(slug) + "probe" if slug else "wr:probe"


# Keys of one generation that every batch may touch (the apply script refuses others).
_FIXED_SUFFIXES = (
    "applied", "tot", "buyers", "active", "bfirst", "refd", "ord", "refpend", "refpendm",
    "mem:last", "mem:groups", "lbprev:from",
    *(f"m:{m}" for m in ("gmv", "orders", "messages", "buyers", "refund", "newbuyers")),
    *(f"lb:{b}{s}" for b in BOARDS for s in ("", ":o", ":n", ":prev")),
)  # fmt: skip


def apply_keys(p: str, plan: BatchPlan) -> list[str]:
    """Every key of generation prefix `p` the apply script may touch for `plan`."""
    out = [p + s for s in _FIXED_SUFFIXES]
    out += [f"{p}m:b:{m}" for m in plan.buyers_by_minute]
    for b in BOARDS:
        out += [f"{p}lb:{b}:m:{m}" for m in plan.board_minute_gmv[b]]
    out += group_health_keys(p, plan.gh)
    return out


# The console's sessions and sign-in throttle: global, not per campaign.
def console_session(sid_hash: str) -> str:
    return f"wr:console:session:{sid_hash}"


def auth_failures(credential: str, client: str) -> str:
    """Failed attempts at one credential from one client address (adapters/redis/throttle.py)."""
    return f"wr:auth:fails:{credential}:{client}"
