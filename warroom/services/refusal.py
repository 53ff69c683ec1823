"""A use case's refusal, with the status the edge answers it with.

Services refuse (unknown rule, over budget, not live) without knowing HTTP; the web
layer (web/errors.py) turns a `Refused` into its JSON body or Chinese page."""

from __future__ import annotations


class Refused(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
