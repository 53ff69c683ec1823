"""The webhook delivery loop: a dispatch pass every half second until told to stop,
then a short grace for posts in flight (the Deliverer, adapters/outbound/delivery.py,
does the pacing, retries and sending)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from warroom.adapters.outbound.delivery import Deliverer

log = logging.getLogger(__name__)


async def run(
    deliverer: Deliverer, stop: asyncio.Event, every_s: float = 0.5, grace_s: float = 2.0
) -> None:
    try:
        while not stop.is_set():
            try:
                await deliverer.dispatch()
            except Exception:
                log.exception("webhook delivery pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
    finally:
        await deliverer.close(grace_s)
