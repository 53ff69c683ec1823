"""A failing test fails; it never hangs the suite. Each case runs pytest on a small test
file in a subprocess, with this suite's conftest (its fixtures, the watchdog) and
pyproject settings, and asserts that the run reaches its end within a bound."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_pytest(tmp: Path, source: str, bound_s: float, **env: str) -> tuple[int, str, float]:
    test = tmp / "test_inner.py"
    test.write_text(textwrap.dedent(source))
    argv = [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-c", "pyproject.toml"]
    argv += ["--rootdir", str(tmp), str(test), "-p", "no:cacheprovider"]
    full_env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    started = time.monotonic()
    try:
        done = subprocess.run(
            argv,
            cwd=REPO,
            env={**full_env, **env},
            capture_output=True,
            text=True,
            timeout=bound_s,
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        raise AssertionError(f"the run hung for more than {bound_s:g} s:\n{out[-3000:]}") from None
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def test_a_task_that_ignores_cancellation_fails_the_test_instead_of_hanging(
    tmp_path: Path,
) -> None:
    """The harness's teardown cancels what the test left running, with a deadline; a
    task that swallows its cancellation (as a retry loop may) used to hang the event
    loop's close for ever."""
    code, out, took = run_pytest(
        tmp_path,
        """
        import asyncio

        async def test_fails_and_leaves_a_stubborn_task(harness):
            async def stubborn():
                while True:
                    try:
                        await asyncio.sleep(3600)
                    except asyncio.CancelledError:
                        pass

            asyncio.create_task(stubborn(), name="stubborn")
            raise AssertionError("the test fails")

        def test_after():
            pass
        """,
        bound_s=120,
    )
    assert code == 1, out[-3000:]
    assert "1 failed, 1 passed, 1 error" in out, out[-3000:]
    assert "TeardownStuck" in out and "stubborn" in out, out[-3000:]


def test_a_teardown_that_hangs_after_the_timeout_ends_the_run_with_every_stack(
    tmp_path: Path,
) -> None:
    """pytest-timeout fails the test once; a teardown that then blocks is caught by the
    watchdog, which prints every thread's stack and ends the run with a failure."""
    code, out, took = run_pytest(
        tmp_path,
        """
        import time

        import pytest

        @pytest.fixture
        def stuck_teardown():
            yield
            time.sleep(3600)

        @pytest.mark.timeout(2)
        def test_overruns(stuck_teardown):
            time.sleep(3600)
        """,
        bound_s=120,
        WARROOM_TEST_WATCHDOG_GRACE_S="3",
    )
    assert code != 0, out[-3000:]
    assert "Timeout" in out and "Stack of MainThread" in out, out[-3000:]
    assert "in stuck_teardown" in out, out[-3000:]  # the stack shows where it hung
