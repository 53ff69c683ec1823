"""Teardown that always ends: every step of a fixture's teardown gets a deadline, and a
task that will not stop is reported instead of waited for.

`asyncio.wait_for` is not enough on its own: on a timeout it cancels the awaitable and
then waits, without a limit, for the cancellation to finish, so a task that swallows
its cancellation (a retry loop that catches what redis-py turns a cancel into) would
hang the teardown forever. Here the wait after the cancel has a deadline too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from typing import Any

log = logging.getLogger(__name__)

TEARDOWN_S = 30.0  # one teardown step (an app's shutdown, a stack's close)
CANCEL_S = 5.0  # for cancelled tasks to finish


class TeardownStuck(AssertionError):
    """A teardown step overran its deadline: the test fails now instead of hanging."""


async def bounded(aw: Awaitable[Any], what: str, deadline_s: float = TEARDOWN_S) -> Any:
    """Await `aw` for at most `deadline_s`; then cancel it, wait at most CANCEL_S more,
    and raise TeardownStuck either way."""
    task = asyncio.ensure_future(aw)
    done, _ = await asyncio.wait({task}, timeout=deadline_s)
    if task in done:
        return task.result()
    task.cancel()
    await asyncio.wait({task}, timeout=CANCEL_S)
    raise TeardownStuck(f"{what} did not finish within {deadline_s:g} s")


async def cancel_all(
    tasks: Iterable[asyncio.Task[Any]], what: str, deadline_s: float = CANCEL_S
) -> None:
    """Cancel `tasks` and wait for them at most `deadline_s`; a task still running after
    that is named in the failure (and cancelled again, once, on the way out)."""
    pending = {t for t in tasks if not t.done()}
    for t in pending:
        t.cancel()
    if not pending:
        return
    done, stuck = await asyncio.wait(pending, timeout=deadline_s)
    for t in done:  # retrieved, so that asyncio does not report them at exit
        if not t.cancelled():
            t.exception()
    if stuck:
        names = sorted(t.get_name() for t in stuck)
        for t in stuck:
            _force_close(t)
        await asyncio.wait(stuck, timeout=CANCEL_S)
        raise TeardownStuck(f"{what}: tasks ignored cancellation for {deadline_s:g} s: {names}")


async def cancel_leftovers(what: str, deadline_s: float = CANCEL_S) -> None:
    """Every task of this loop but the caller's: what a test started and left running
    (it failed before its own cleanup) must not outlive it, nor hang the loop's close."""
    me = asyncio.current_task()
    await cancel_all([t for t in asyncio.all_tasks() if t is not me], what, deadline_s)


def _force_close(task: asyncio.Task[Any]) -> None:
    """A task that swallows every cancellation would also hang the event loop's own
    close (pytest-asyncio cancels what is left and waits for it without a limit): close
    its coroutine (GeneratorExit at its await, which `except CancelledError` does not
    catch), then cancel it, so that it ends and the loop can close."""
    coro = task.get_coro()
    close = getattr(coro, "close", None)
    if close is not None:
        try:
            close()
        except RuntimeError as exc:  # it caught GeneratorExit too: nothing more to do
            log.error("could not close %s: %s", task.get_name(), exc)
    task.cancel()
