"""Every Redis name Warroom uses. One campaign's keys share the hash tag `{slug}` so
they live on one Redis Cluster slot and one Lua script may touch them all."""

from __future__ import annotations

CAMPAIGNS = "wr:campaigns"  # set of slugs the workers watch
CHANGED_CHANNEL = "wr:changed"  # pub/sub hint: a campaign's hot state moved
AGG_GROUP = "agg"


def prefix(slug: str) -> str:
    return f"wr:{{{slug}}}:"


def stream(slug: str) -> str:
    return prefix(slug) + "events"


def dead_letters(slug: str) -> str:
    return prefix(slug) + "dead"


def totals(slug: str) -> str:
    return prefix(slug) + "tot"


def minute_metric(slug: str, metric: str) -> str:
    return prefix(slug) + "m:" + metric


def board(slug: str, board_name: str) -> str:
    return prefix(slug) + "lb:" + board_name


def board_orders(slug: str, board_name: str) -> str:
    return board(slug, board_name) + ":o"


def board_names(slug: str, board_name: str) -> str:
    return board(slug, board_name) + ":n"


def board_minute(slug: str, board_name: str, minute_ms: int) -> str:
    return board(slug, board_name) + ":m:" + str(minute_ms)


def claim(slug: str, name: str) -> str:
    return prefix(slug) + "claim:" + name


def pattern(slug: str) -> str:
    """Every hot-state key of a campaign (used by rebuild to wipe before replaying)."""
    return prefix(slug).replace("{", "\\{").replace("}", "\\}") + "*"


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
