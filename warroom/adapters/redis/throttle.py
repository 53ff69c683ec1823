"""The sign-in throttle: failed attempts at a credential, counted per client address in
Redis so every web process shares the count.

Count first, then decide. A failure is one MULTI/EXEC (open the window if it is not
open, INCR, read the TTL), and the answer is decided from the count that INCR returned:
under any concurrency exactly `limit` failures per window are answered "wrong", the
rest "wait". Reading the counter, deciding and then incrementing (as before) let 200
concurrent guesses through a limit of 10.

The comparison of a token is local and constant-time; what an attacker learns is what
the answers say. A wrong token is told "wrong" at most `limit` times per window and
address; after that every attempt from the address, the right token included, hears
"wait" (a lock-out that let the right token through would tell a right guess from a
wrong one). Another address is not locked: the right token still signs in from there.

Keys are per credential and per address (`keys.auth_failures`): the console sign-in and
the API's admin bearer guess the same secret, so they share the "admin" count. The
viewer routes, which also take the admin's bearer, count wrong bearers apart
("admin-as-viewer"): there a wrong bearer is more often a rotated viewer token than a
guess, and it should not lock the address out of the console; a guess through them is
limited all the same. IPv6 clients are counted per /64, the block one subscriber
usually holds.
"""

from __future__ import annotations

import ipaddress

from redis.asyncio import Redis

from warroom.adapters.redis import keys

ADMIN = "admin"  # the credential both the console and the API's bearer check
ADMIN_AS_VIEWER = "admin-as-viewer"  # the admin's bearer on a viewer route
PASSWORD = "password"  # a person's email-and-password sign-in, per address (issue 18)


def client_of(host: str | None) -> str:
    """The address a count is kept for: an IPv4 address, an IPv6 /64, or the text as
    given (capped, so a key stays small)."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


async def locked_for_s(redis: Redis, credential: str, client: str, limit: int) -> int:
    """Seconds this address must wait before any attempt at `credential` (0: go ahead)."""
    key = keys.auth_failures(credential, client)
    pipe = redis.pipeline(transaction=False)
    pipe.get(key)
    pipe.ttl(key)
    count, ttl = await pipe.execute()
    if int(count or 0) < limit:
        return 0
    return max(int(ttl), 1)


async def count_failure(
    redis: Redis, credential: str, client: str, limit: int, window_s: int = 60
) -> int:
    """Record one failed attempt; returns 0 if it is within the limit (answer "wrong"),
    else the seconds to wait (answer 429 with Retry-After)."""
    key = keys.auth_failures(credential, client)
    pipe = redis.pipeline(transaction=True)  # one MULTI/EXEC: atomic
    pipe.set(key, 0, ex=window_s, nx=True)  # the window opens at the first failure
    pipe.incr(key)
    pipe.ttl(key)
    _, count, ttl = await pipe.execute()
    if int(count) <= limit:
        return 0
    return max(int(ttl), 1)


# A refund never creates a counter (an expired window stays closed) and never goes below 0.
_REFUND = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""


async def count_attempt(
    redis: Redis, credential: str, client: str, limit: int, window_s: int = 60
) -> int:
    """Count an attempt as a failure before it is checked (a sign-in whose check is
    slow, an Argon2id hash): 0 if within the limit (go on and check it), else the
    seconds to wait. A right answer then takes it back with `refund`, so under any
    concurrency at most `limit` attempts per window are ever checked."""
    return await count_failure(redis, credential, client, limit, window_s)


async def refund(redis: Redis, credential: str, client: str) -> None:
    """Take back one counted attempt that turned out right."""
    await redis.eval(_REFUND, 1, keys.auth_failures(credential, client))
