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
