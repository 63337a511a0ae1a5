"""Suite-wide settings. With SERIALSYNC_REQUIRE_ALL=1 (CI) a skipped test fails:
every tier must run there, whatever a developer machine lacks."""

from __future__ import annotations

import os

import pytest

REQUIRE_ALL = os.environ.get("SERIALSYNC_REQUIRE_ALL") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, but SERIALSYNC_REQUIRE_ALL=1 requires every test to run: {report.longrepr}"


@pytest.fixture
def keep_reading():
    """A context manager: read each console session in its own thread while inside.

    Consoles whose board runs a script on its own (no step to expect) still
    need reading, so that their markers are answered.
    """
    import contextlib
    import threading

    import pexpect

    @contextlib.contextmanager
    def reading(sessions):
        stop = threading.Event()

        def pump(session):
            while not stop.is_set():
                try:
                    session.read_nonblocking(4096, 0.2)
                except pexpect.TIMEOUT:
                    continue
                except pexpect.EOF:
                    return

        threads = [threading.Thread(target=pump, args=(s,), daemon=True) for s in sessions]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            for thread in threads:
                thread.join(5)

    return reading
