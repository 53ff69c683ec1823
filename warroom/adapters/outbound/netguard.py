"""Outgoing connections only to globally routable addresses (no SSRF).

A webhook URL is chosen by whoever holds the admin token, and the worker that posts to it
sits inside the operator's network: next to cloud metadata (169.254.169.254,
100.100.100.200), Redis, PostgreSQL and the admin API on loopback. So the address a
post actually connects to must be a public one. Checking the URL's text is not enough
(a name may resolve to anything, and differently at send time: DNS rebinding), so the
check lives in the network backend of the HTTP client: it resolves the name itself,
refuses when any resolved address is not global, and connects to the address it
checked. TLS still verifies the certificate against the URL's host name (httpcore
passes the host as SNI), and the Host header is untouched.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
from httpcore._backends.anyio import AnyIOBackend

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # DNS64: the last 32 bits are an IPv4 address
# The last label of a host that libc and browsers read as an IPv4 number: decimal,
# octal (leading 0) or hex (0x), e.g. 2130706433, 0177.0.0.1, 0x7f.1.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


class RefusedAddress(httpcore.ConnectError):
    """Raised before any connection is made; httpx maps it to `httpx.ConnectError`."""


def unwrap(ip: IPAddress) -> list[IPAddress]:
    """The address plus any IPv4 address it carries and would reach through a
    translator (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16)."""
    out: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return [ip.ipv4_mapped]
        if ip in _NAT64:
            return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
        if ip.sixtofour is not None:
            out.append(ip.sixtofour)
    return out


def refusal(ip: IPAddress) -> str | None:
    """Why this address may not be a webhook target, or None if it is globally routable.
    `is_global` already excludes private, shared (100.64/10), loopback, link-local,
    unspecified, documentation and reserved IPv4 ranges and ULA (fc00::/7), link-local
    and unspecified IPv6; multicast and reserved IPv6 (e.g. IPv4-compatible ::/96) are
    refused on top."""
    for a in unwrap(ip):
        if not a.is_global or a.is_multicast or (a.version == 6 and a.is_reserved):
            return f"{a} is not a globally routable address"
    return None


def literal_ip(host: str) -> IPAddress | None:
    """The address a host names literally, normalised as libc would read it (so
    `2130706433` and `0177.0.0.1` are 127.0.0.1), or None for a DNS name. Raises
    ValueError for a numeric-looking host that is no valid address (refuse, don't guess)."""
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        pass
    if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            raise ValueError(f"{host!r} is not a valid IPv4 address") from None
    return None


def addresses(infos: Iterable[tuple[Any, ...]]) -> list[IPAddress]:
    """Addresses from getaddrinfo results, in order, without duplicates or zone ids."""
    seen: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if ip not in seen:
            seen.append(ip)
    return seen


async def resolve(host: str, port: int, timeout: float | None) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=timeout
    )
    return addresses(infos)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend: resolve, check every address, connect to a checked one."""

    def __init__(self, allow_private: bool = False) -> None:
        self.allow_private = allow_private
        self._inner = AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            ips = await resolve(host, port, timeout)
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not self.allow_private:
            # Every address, not just the first: the connect below may fall through
            # to a later one.
            for ip in ips:
                why = refusal(ip)
                if why:
                    raise RefusedAddress(f"refused: {host} resolves to {ip}; {why}")
        last: Exception = httpcore.ConnectError(f"no address for {host}")
        for ip in ips:
            try:
                return await self._inner.connect_tcp(
                    str(ip),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_client(
    *, allow_private: bool, timeout: httpx.Timeout, max_connections: int
) -> httpx.AsyncClient:
    """An HTTP client whose every connection goes through the address check, with no
    redirects and no proxy from the environment (a proxy would connect for us)."""
    transport = httpx.AsyncHTTPTransport(
        trust_env=False, limits=httpx.Limits(max_connections=max_connections)
    )
    # httpx takes no network backend argument; its transport is a thin wrapper over this
    # pool, so the pool is rebuilt with the same settings plus the guard.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=5.0,
        http1=True,
        http2=False,
        network_backend=GuardedBackend(allow_private),
    )
    return httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    )


# Linear on any input (it runs on receivers' error messages, which they choose): a
# "run" (no whitespace, quotes, <>, ? or #) may only start after a separator and is
# consumed possessively, so each is scanned once; a run holding "://" that is followed
# by "?" or "#" loses what follows. 20 KB of "a." once took a second under `\b[a-z]...`.
_RUN_THEN_CUT = re.compile(r"""(?<![^\s?#"'<>])[^\s?#"'<>]++(?=[?#])""")
_CUT_TAIL = re.compile(r"""[^\s"'<>]*+""")
_USERINFO = re.compile(r"://[^/@\s]*+@")


def redact_url(url: str) -> str:
    """A URL fit for a log line: no query (WeCom robot keys live there), no fragment,
    no user:password."""
    out: list[str] = []
    done = 0
    for m in _RUN_THEN_CUT.finditer(url):
        if m.start() < done or url.find("://", m.start(), m.end()) <= m.start():
            continue  # inside a cut tail, or no scheme before "://"
        tail = _CUT_TAIL.match(url, m.end())
        assert tail is not None  # `*+` always matches
        out += [url[done : m.end()], "?…"]
        done = tail.end()
    redacted = "".join([*out, url[done:]]) if out else url
    return _USERINFO.sub("://", redacted)


class RedactUrls:
    """logging filter: strip query strings from URLs in a record (httpx logs
    `HTTP Request: POST https://…/send?key=<robot key>` at INFO)."""

    def filter(self, record: Any) -> bool:
        message = record.getMessage()
        clean = redact_url(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def quiet_http_client_logs() -> None:
    """Install the redaction on the loggers of the HTTP client, once per process."""
    import logging

    # A filter applies only to records of the logger it is on, not to its children, so
    # each logger httpx and httpcore log to is named.
    for name in (
        "httpx",
        *(f"httpcore.{n}" for n in ("connection", "http11", "http2", "proxy", "socks")),
    ):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactUrls) for f in logger.filters):
            logger.addFilter(RedactUrls())
