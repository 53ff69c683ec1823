"""Settings from the environment (and nothing else)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class HubSettings(BaseSettings):
    """WARROOM_WS_* from the environment (a section of Settings: these tune the
    screens' fan-out only)."""

    model_config = SettingsConfigDict(env_prefix="WARROOM_WS_", extra="ignore")

    # Renders per campaign while changes keep coming: at most frames_per_s a second,
    # fewer when one render + fan-out costs more than render_budget of a core (the
    # first change after a quiet spell renders at once). docs/benchmarks.md.
    frames_per_s: float = 8.0
    render_budget: float = 0.4
    heartbeat_s: float = 5.0  # an update at least this often, changed or not
    queue_frames: int = 8  # per viewer; beyond this the viewer is resynced
    stall_close_s: float = 60.0  # a send blocked this long: the viewer is dropped
    room_linger_s: float = 30.0  # keep an empty room (and its state) this long
    pubsub_heartbeat_s: float = 5.0  # the subscriber proves itself alive this often
    # The kernel's send buffer per dashboard socket. Left to autotuning, a peer that
    # reads nothing can pin up to tcp_wmem max (4 MiB) of kernel memory; frames are a
    # few KiB, so a fixed 128 KiB (Linux doubles it) bounds a stalled viewer and lets
    # the stall be noticed. 0 leaves the kernel's default.
    sndbuf_bytes: int = 128 * 1024
    # Dashboard sockets open at once from one client address (an IPv6 /64), per web
    # process; beyond it the handshake is refused with 429. Behind a reverse proxy, set
    # WARROOM_TRUSTED_PROXIES, or every viewer shares the proxy's address.
    max_per_address: int = Field(default=200, ge=1)


class ConsoleSettings(BaseSettings):
    """WARROOM_CONSOLE_* from the environment."""

    model_config = SettingsConfigDict(env_prefix="WARROOM_CONSOLE_", extra="ignore")

    session_hours: float = 12.0
    # Wrong admin tokens per client address per window (console sign-in and the API's
    # admin bearer share it); then 429 with Retry-After (adapters/redis/throttle.py).
    max_failed_logins: int = Field(default=10, ge=1)
    # The window those failures are counted in: it opens at the first failure, and a
    # locked-out address waits until it closes (Retry-After says how long).
    failed_login_window_s: int = Field(default=60, ge=1)
    # Wrong passwords for one account, from any address, per window (issue 18); then
    # that account's sign-in answers 429 until the window closes.
    max_failed_per_account: int = Field(default=30, ge=1)
    account_window_s: int = Field(default=900, ge=1)


class HttpSettings(BaseSettings):
    """WARROOM_HTTP_* from the environment: the HTTP server's own limits (uvicorn),
    docs/operations.md says what a client sees at each."""

    model_config = SettingsConfigDict(env_prefix="WARROOM_HTTP_", extra="ignore")

    # Connections and tasks at once per web process (sockets included); beyond it new
    # requests get 503 at once. Keep it below the process's open-file limit.
    limit_concurrency: int = Field(default=10_000, ge=1)
    # httptools (the default) parses a single-event POST in about two thirds of h11's
    # CPU (bench_spine: 246 vs 356 µs a request). Either way a request line plus
    # headers larger than max_header_bytes is refused before it is buffered: h11 by its
    # own bound (400), httptools by web/headlimit.py (431).
    parser: Literal["h11", "httptools"] = "httptools"
    max_header_bytes: int = Field(default=64 * 1024, ge=4096)
    # An idle keep-alive connection is closed after this long.
    keepalive_s: int = Field(default=5, ge=1)
    # A request (head and body) must arrive within this long of its first byte (of the
    # connection's opening, for the first request): else 408 if the head is still
    # coming, and the connection is closed. httptools only (web/headlimit.py).
    read_timeout_s: float = Field(default=30.0, gt=0)


class ImportSettings(BaseSettings):
    """WARROOM_IMPORT_* from the environment: spreadsheet imports (docs/imports.md)."""

    model_config = SettingsConfigDict(env_prefix="WARROOM_IMPORT_", extra="ignore")

    # An upload larger than this is refused with 413 before it is read.
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # An XLSX whose parts unzip to more than this is refused (413): a zip bomb.
    max_unzipped_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    # Rows after the header read at most (empty ones included); the rest is reported.
    max_rows: int = Field(default=300_000, ge=1)
    # This many empty rows in a row end the sheet (reported): a sheet formatted down to
    # its last row is not parsed to the end.
    max_empty_run: int = Field(default=1_000, ge=1)
    # Rows handed to the ledger writer at a time.
    chunk_rows: int = Field(default=5_000, ge=1, le=50_000)


class MetricsSettings(BaseSettings):
    """WARROOM_METRICS_* from the environment: Prometheus metrics (docs/operations.md)."""

    model_config = SettingsConfigDict(env_prefix="WARROOM_METRICS_", extra="ignore")

    # Set: /metrics needs `Authorization: Bearer <token>`. Unset: loopback clients only.
    token: str | None = None
    # A worker's /metrics port (`warroom worker`); unset, a worker exposes none (under
    # `warroom serve` the web's /metrics shows the workers' counters anyway).
    port: int | None = Field(default=None, ge=1, le=65535)
    # The address a worker's metrics port listens on: 0.0.0.0 to be scraped from another
    # host (then set a token).
    host: str = "127.0.0.1"
    # Campaign label values per process; beyond it, `_other` (bounded series).
    max_campaigns: int = Field(default=1000, ge=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    # Sections with their own prefixes (WARROOM_WS_*, WARROOM_CONSOLE_*, WARROOM_HTTP_*),
    # read with the rest.
    ws: HubSettings = Field(default_factory=HubSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    imports: ImportSettings = Field(default_factory=ImportSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    redis_url: str | None = None
    # REDIS_URL names any node of a Redis Cluster (every key of a campaign shares its
    # hash tag, so one campaign lives on one slot).
    warroom_redis_cluster: bool = False
    # Redis connections per process (web or worker), in a blocking pool: a burst larger
    # than this waits up to WARROOM_REDIS_POOL_TIMEOUT_S for a free connection, then 503.
    warroom_redis_max_connections: int = Field(default=64, ge=4)
    warroom_redis_pool_timeout_s: float = Field(default=2.0, gt=0)
    database_url: str | None = None
    warroom_admin_token: str | None = None
    # API keys are stored as HMAC-SHA256 under this secret; unset, a random one is kept
    # in the data directory (api-keys.secret, 0600). Web processes on several hosts
    # must share it.
    warroom_key_secret: str | None = None
    port: int = 8000
    host: str = "127.0.0.1"
    # Reverse proxies whose X-Forwarded-For (and -Proto) to believe: comma-separated IPs
    # or CIDRs. Empty (the default): the client address is the socket's peer, whatever
    # the headers say, so a forged X-Forwarded-For cannot dodge a per-address limit.
    warroom_trusted_proxies: str = ""
    warroom_data_dir: Path = Path(".warroom")
    # Ingest limits: a whole request over these gets 413 / 429.
    warroom_max_body_bytes: int = 8 * 1024 * 1024
    warroom_max_events_per_request: int = 10_000
    warroom_max_pending_events: int = 200_000
    # Seconds an entry may sit unacknowledged before another worker reclaims it.
    warroom_reclaim_idle_s: float = 30.0
    # Webhooks to loopback/link-local addresses are refused unless this is set (tests).
    warroom_allow_private_webhooks: bool = False
    # Allow browsers from these origins on the WebSocket besides the page's own host.
    warroom_allowed_origins: str = ""
    # Screens turn amber and say "no new data" after this long without any event
    # during the sale: an ingest outage must not look like a slump.
    warroom_screen_quiet_s: float = 60.0
    # Replays (`/c/{slug}?replay=60`) playing at once in one web process: each is a
    # task that rebuilds a snapshot per campaign minute; beyond this they are refused.
    warroom_replay_max_viewers: int = 20
    # One log line per HTTP request: off by default, since at thousands of ingest
    # requests a second it costs CPU and buries the demo's live figures.
    warroom_access_log: bool = False
    # Root log level of every process (DEBUG, INFO, WARNING, ...). Secrets are redacted
    # at every level; see warroom/logconfig.py.
    warroom_log_level: str = "INFO"
    # `text` (the default): one readable line per record. `json`: one JSON object per
    # line (ts, level, logger, process, pid, campaign, message, exc) for log shippers
    # that index fields; redacted the same way. `warroom serve` passes it to its children.
    warroom_log_format: Literal["text", "json"] = "text"
    # A dependency (the SQL ledger, Redis) that does not answer within this many seconds
    # fails the request with 503 and Retry-After instead of holding it: SQLite's busy
    # wait, PostgreSQL's connect and statement timeouts, the pool wait are all this.
    warroom_dependency_timeout_s: float = 5.0
    # SQLite only. FULL (the default) syncs the WAL on every commit: a 202 survives a
    # power cut. NORMAL syncs at checkpoints only: faster, and still safe across a crash
    # of the process, but the last commits before a power cut or OS crash can be lost.
    warroom_sqlite_synchronous: Literal["FULL", "NORMAL", "EXTRA"] = "FULL"
    # Viewers only ever send tiny control messages ({"type": "resync"}); anything larger
    # is closed with 1009 (message too big) before it is buffered.
    warroom_ws_max_message_bytes: int = 4096
    # Links handed out (console, API, demo) start with this public base URL, e.g.
    # https://warroom.example.com (what a phone outside the office can reach). Unset:
    # the request's own scheme and host (behind WARROOM_TRUSTED_PROXIES, the forwarded
    # ones).
    warroom_public_url: str | None = None
    # The key of the links' token hashes (HMAC-SHA256). Unset: a random key kept in
    # WARROOM_DATA_DIR/link.key (0600), created on first start; set it when web
    # processes run on several hosts, all with the same value.
    warroom_link_secret: str | None = None
    # A CJK font file for report posters (default: Debian's fonts-noto-cjk if present).
    warroom_poster_font: str | None = None

    @property
    def sqlite_path(self) -> Path:
        return self.warroom_data_dir / "warroom.db"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"
