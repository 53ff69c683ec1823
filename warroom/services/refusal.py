"""A use case's refusal, with the status the edge answers it with.

Services refuse (unknown rule, over budget, not live) without knowing HTTP; the web
layer (web/errors.py) turns a `Refused` into its JSON body or Chinese page."""

from __future__ import annotations


class Refused(Exception):
    """`limit` names the limit that refused (body_bytes, pending_events, ...): the edge
    counts it in `warroom_refused_total` when it answers; `dependency` names a part
    that failed or did not answer in time (`warroom_dependency_timeouts_total`)."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        *,
        limit: str | None = None,
        dependency: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
        self.limit = limit
        self.dependency = dependency
