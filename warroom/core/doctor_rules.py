"""`warroom doctor`'s decisions: facts about a deployment in, findings out.

Pure (no I/O): warroom/doctor.py gathers the facts (through adapters/probes.py for Redis
and SQL) and prints what these rules say. Each finding says what was found and, unless
it is OK, what to change; docs/operations.md ("warroom doctor") explains each check.
"""

from __future__ import annotations

from warroom.core.doctor_findings import STATUSES, Finding, Status, exit_code, render

__all__ = ["STATUSES", "Finding", "Status", "exit_code", "render"]  # and the rules below

# Redis memory: above these shares of maxmemory a burst (a big import, a slow worker
# letting streams grow) reaches the limit, and with noeviction every write is refused.
MEMORY_WARN = 0.70
MEMORY_FAIL = 0.90
# Connections Warroom may open against the server's limit: other clients (redis-cli,
# monitoring, replicas, a second deployment) need room too.
CONNECTIONS_WARN = 0.80
# Clocks: campaign minutes, the settled watermark and a link's expiry come from each
# process's own clock; a second of skew shifts a minute bucket, five put events in the
# wrong minute and make screens call fresh data stale.
SKEW_WARN_S = 1.0
SKEW_FAIL_S = 5.0
# Free space where the SQLite ledger (and its WAL) lives: a full disk stops every commit.
DISK_FAIL_BYTES = 1 << 30
DISK_WARN_BYTES = 5 << 30
DISK_WARN_SHARE = 0.10
ADMIN_TOKEN_MIN = 16
LOOPBACK = "http://127.0.0.1:"


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MiB"


def _gib(n: int) -> str:
    return f"{n / (1 << 30):,.1f} GiB"


def unreachable(check: str, what: str, reason: str, change: str) -> Finding:
    return Finding("FAIL", check, f"{what} did not answer: {reason}", change)


# Redis ---------------------------------------------------------------------------------


def redis_eviction(policy: str) -> Finding:
    if policy == "noeviction":
        return Finding("OK", "redis.eviction", "maxmemory-policy noeviction")
    return Finding(
        "FAIL",
        "redis.eviction",
        f"maxmemory-policy {policy}: Redis deletes keys when full, and an evicted stream "
        "entry or counter is a figure silently lost (web and worker refuse to start)",
        "CONFIG SET maxmemory-policy noeviction and set it in redis.conf (or the managed "
        "service's parameter group) so that it survives a restart",
    )


def redis_persistence(aof: bool, save: str | None) -> Finding:
    """`save` is the RDB schedule ("" when off), None when CONFIG is not available."""
    if aof:
        return Finding("OK", "redis.persistence", "appendonly yes")
    if save:
        return Finding(
            "OK",
            "redis.persistence",
            f"RDB snapshots (save {save}); appendonly no: a restart loses what came "
            "after the last snapshot, which the ledger rebuilds",
        )
    found = (
        "appendonly no and no RDB schedule"
        if save is not None
        else "appendonly no; the RDB schedule is unknown (CONFIG is not available)"
    )
    return Finding(
        "WARN",
        "redis.persistence",
        f"{found}: a Redis restart empties the hot state; the ledger rebuilds it, but "
        "every live campaign's screens wait for the restore, longer the more events",
        "CONFIG SET appendonly yes (appendfsync everysec) and set it in redis.conf",
    )


def redis_memory(used: int, maxmemory: int, system: int = 0) -> Finding:
    if maxmemory <= 0:
        of_host = f" of {_mib(system)} on the host" if system > 0 else ""
        return Finding(
            "WARN",
            "redis.memory",
            f"no maxmemory; {_mib(used)} used{of_host}: Redis grows until the host runs "
            "out, and on a shared host the kernel's OOM killer may end Redis or a neighbour",
            "set maxmemory to what this host can give Redis (with noeviction, Warroom then "
            "answers 503 at the limit instead of losing the server)",
        )
    share = used / maxmemory
    found = f"{_mib(used)} of maxmemory {_mib(maxmemory)} used ({share:.0%})"
    if share > MEMORY_FAIL:
        return Finding(
            "FAIL",
            "redis.memory",
            found + ": at the limit Redis refuses writes and ingest answers 503",
            "raise maxmemory, or free memory (ended campaigns' streams, other data in "
            "this Redis) before the sale",
        )
    if share > MEMORY_WARN:
        return Finding(
            "WARN",
            "redis.memory",
            found + f": above {MEMORY_WARN:.0%}, a burst may reach the limit",
            "raise maxmemory or free memory before the sale",
        )
    return Finding("OK", "redis.memory", found)


def redis_clients(maxclients: int, per_process: int, processes: int) -> Finding:
    need = per_process * processes
    found = (
        f"maxclients {maxclients}; Warroom may open {need} "
        f"({processes} processes x WARROOM_REDIS_MAX_CONNECTIONS {per_process})"
    )
    change = (
        "raise maxclients (and the server's open-file limit), or lower "
        "WARROOM_REDIS_MAX_CONNECTIONS; each process also waits for a pooled connection "
        "rather than opening more"
    )
    if need > maxclients:
        return Finding(
            "FAIL",
            "redis.clients",
            found + ": under load Redis refuses connections and requests get 503",
            change,
        )
    if need > maxclients * CONNECTIONS_WARN:
        return Finding(
            "WARN",
            "redis.clients",
            found + f": above {CONNECTIONS_WARN:.0%}, little room for other clients",
            change,
        )
    return Finding("OK", "redis.clients", found)


# Database ------------------------------------------------------------------------------


def pg_fsync(value: str) -> Finding:
    if value == "on":
        return Finding("OK", "database.fsync", "fsync on")
    return Finding(
        "FAIL",
        "database.fsync",
        f"fsync {value}: a power cut or OS crash can lose acknowledged events and "
        "corrupt the database",
        "set fsync = on in postgresql.conf and reload",
    )


def pg_synchronous_commit(value: str, standby_names: str = "") -> Finding:
    """`value` is the server's default (what a new session gets), not the session's:
    Warroom's engine switches its own sessions from off to on (adapters/sql/engine.py)."""
    if value in ("on", "remote_write", "remote_apply"):
        return Finding("OK", "database.synchronous_commit", f"synchronous_commit {value}")
    if value == "local" and not standby_names.strip():
        return Finding(
            "OK",
            "database.synchronous_commit",
            "synchronous_commit local (no synchronous standby: the same as on)",
        )
    if value == "local":
        found = (
            "synchronous_commit local with synchronous standbys: a commit is not waited "
            "for on a standby, so after a failover a 202 may be lost"
        )
    else:
        found = (
            f"synchronous_commit {value} by default: Warroom sets its own sessions to on, "
            "but another client or a pooler that resets sessions would not, and a 202 may "
            "be lost on a crash"
        )
    return Finding(
        "WARN",
        "database.synchronous_commit",
        found,
        "set synchronous_commit = on for the Warroom database "
        "(ALTER DATABASE ... SET synchronous_commit = on, or in postgresql.conf)",
    )


def sql_connections(
    max_connections: int, reserved: int, per_process: int, processes: int
) -> Finding:
    available = max_connections - reserved
    need = per_process * processes
    found = (
        f"max_connections {max_connections} ({reserved} reserved); Warroom may open {need} "
        f"({processes} processes x {per_process}: pool and overflow of make_engine)"
    )
    change = (
        "raise max_connections, or put PgBouncer (transaction mode) in front, or run "
        "fewer processes against this server"
    )
    if need > available:
        return Finding(
            "FAIL",
            "database.connections",
            found + ": under load connections are refused and requests get 503",
            change,
        )
    if need > available * CONNECTIONS_WARN:
        return Finding(
            "WARN",
            "database.connections",
            found + f": above {CONNECTIONS_WARN:.0%}, little room for other clients",
            change,
        )
    return Finding("OK", "database.connections", found)


def sqlite_journal(mode: str | None) -> Finding:
    """`mode` is what SQLite answered after Warroom's own pragmas, None before the file
    exists (the first start creates it in WAL mode)."""
    if mode is None:
        return Finding(
            "INFO",
            "database.sqlite_journal",
            "no SQLite ledger yet: the first start creates it (journal_mode WAL)",
        )
    if mode.lower() == "wal":
        return Finding("OK", "database.sqlite_journal", "journal_mode wal")
    return Finding(
        "FAIL",
        "database.sqlite_journal",
        f"journal_mode {mode}: WAL could not be enabled (a network filesystem?); readers "
        "then block the ledger's writer and ingest stalls",
        "put WARROOM_DATA_DIR on a local disk, or use PostgreSQL (DATABASE_URL)",
    )


def sqlite_synchronous(setting: str) -> Finding:
    if setting.upper() in ("FULL", "EXTRA"):
        return Finding("OK", "database.sqlite_synchronous", f"WARROOM_SQLITE_SYNCHRONOUS {setting}")
    return Finding(
        "WARN",
        "database.sqlite_synchronous",
        f"WARROOM_SQLITE_SYNCHRONOUS {setting}: safe when a process crashes, but a power "
        "cut or OS crash can lose the last acknowledged events",
        "unset WARROOM_SQLITE_SYNCHRONOUS (FULL) unless the throughput is needed",
    )


def disk_space(path: str, free: int, total: int) -> Finding:
    found = f"{_gib(free)} free of {_gib(total)} at {path}"
    change = "free space or move WARROOM_DATA_DIR to a larger disk before the sale"
    if free < DISK_FAIL_BYTES:
        return Finding("FAIL", "database.disk", found + ": a full disk stops every commit", change)
    if free < DISK_WARN_BYTES or (total > 0 and free < total * DISK_WARN_SHARE):
        return Finding("WARN", "database.disk", found + ": little room for a big sale", change)
    return Finding("OK", "database.disk", found)


# Clocks --------------------------------------------------------------------------------


def clock_skew(against: str, skew_s: float, rtt_s: float) -> Finding:
    """`skew_s`: the other clock minus this host's at the round trip's midpoint, so the
    error is at most half the round trip, which is given the benefit of the doubt."""
    check = f"clock.{against.lower()}"
    size = max(0.0, abs(skew_s) - rtt_s / 2)
    ahead = "ahead of" if skew_s > 0 else "behind"
    found = f"{against}'s clock is {abs(skew_s):.3f} s {ahead} this host's (round trip {rtt_s * 1000:.0f} ms)"
    change = (
        "run NTP (chrony or systemd-timesyncd) on every host of the deployment, Redis "
        "and the database included"
    )
    if size > SKEW_FAIL_S:
        return Finding(
            "FAIL",
            check,
            found + ": events land in the wrong campaign minute and screens misjudge freshness",
            change,
        )
    if size > SKEW_WARN_S:
        return Finding("WARN", check, found + ": minute buckets may shift", change)
    return Finding("OK", check, found)


# HTTP endpoints ------------------------------------------------------------------------


def http_answer(
    check: str, url: str, status: int | None, error: str, token_set: bool, healthz: bool = False
) -> Finding:
    """An endpoint's answer (`status`), or `error` when none came. Unreachable is a WARN:
    the process may well run on another host than the one doctor runs on."""
    if status is None:
        return Finding(
            "WARN",
            check,
            f"{url} did not answer: {error}",
            "if the process runs on this host, start it or check WARROOM_METRICS_PORT; "
            "else run doctor on its host, or give --url"
            if url.startswith(LOOPBACK)
            else "check that the process runs there and that no firewall is in between",
        )
    if status == 200:
        return Finding("OK", check, f"{url} answered 200")
    if status == 401:
        change = (
            "WARROOM_METRICS_TOKEN in doctor's environment differs from the process's: "
            "use the same value"
            if token_set
            else "the process has WARROOM_METRICS_TOKEN set: give doctor the same value, "
            "and your Prometheus job the same bearer token"
        )
        return Finding("WARN", check, f"{url} answered 401 (a bearer token is required)", change)
    if status == 403:
        return Finding(
            "WARN",
            check,
            f"{url} answered 403: without WARROOM_METRICS_TOKEN, /metrics answers loopback "
            "clients only",
            "set WARROOM_METRICS_TOKEN on the processes (and as the bearer of the scrape "
            "job) to scrape from another host",
        )
    if healthz and status == 503:
        return Finding(
            "FAIL",
            check,
            f"{url} answered 503: {error or 'a dependency is degraded'}",
            "see the part it names (redis, database, aggregation) in docs/operations.md",
        )
    if status == 404:
        return Finding(
            "WARN",
            check,
            f"{url} answered 404",
            "this port belongs to another service, or to a Warroom without that endpoint",
        )
    return Finding("WARN", check, f"{url} answered {status} {error}".rstrip(), "")


# Secrets -------------------------------------------------------------------------------


def admin_token(token: str | None) -> Finding:
    if not token:
        return Finding(
            "INFO",
            "secrets.admin_token",
            "WARROOM_ADMIN_TOKEN unset: `warroom serve` makes one (WARROOM_DATA_DIR/admin-token)",
            "set it when web processes are started on their own, the same on each",
        )
    if len(token) < ADMIN_TOKEN_MIN:
        return Finding(
            "WARN",
            "secrets.admin_token",
            f"WARROOM_ADMIN_TOKEN has {len(token)} characters: guessable",
            f"use at least {ADMIN_TOKEN_MIN} random characters "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')",
        )
    return Finding(
        "OK", "secrets.admin_token", f"WARROOM_ADMIN_TOKEN set ({len(token)} characters)"
    )


def shared_secrets(key_secret: bool, link_secret: bool, processes: int) -> Finding:
    missing = [
        name
        for name, is_set in (
            ("WARROOM_KEY_SECRET", key_secret),
            ("WARROOM_LINK_SECRET", link_secret),
        )
        if not is_set
    ]
    if not missing:
        return Finding("OK", "secrets.shared", "WARROOM_KEY_SECRET and WARROOM_LINK_SECRET set")
    names = " and ".join(missing)
    found = f"{names} unset: each host makes its own in WARROOM_DATA_DIR"
    change = (
        "when web processes run on several hosts, set both to the same random value on "
        "every host, or API keys and links made on one host fail on the others"
    )
    if processes > 1:
        return Finding("WARN", "secrets.shared", found, change)
    return Finding("INFO", "secrets.shared", found, change)
