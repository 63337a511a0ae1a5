"""pytest plugin: groups of boards as fixtures, the test itself a member of the group.

Installed with serialsync (entry point ``pytest11``) and inert unless a test
asks for one of its fixtures:

``serialsync_group``
    The boards of a group, up and with their markers served, closed at
    teardown whatever happened (pending calls answered ``nack``, every member
    of this host gone from the group, consoles closed, board processes
    ended). Defined by, first found: ``@pytest.mark.serialsync(devices=[...])``
    or ``(job="file.yaml")``; an override of the ``serialsync_devices``
    fixture; ``--serialsync-job``; else labgrid's environment (``--lg-env``):
    its targets that have a SerialsyncDriver.
``serialsync_host``
    This test as a member of that group (requesting it makes the test join,
    under ``--serialsync-host-role``, default ``host``): send / wait /
    wait_all / sync with the boards.
``make_serialsync_group``
    A factory for more groups (or one defined in the test); each is closed
    at teardown.

Each multinode call and board command is a line of a "serialsync" report
section and a ``serialsync.call`` / ``serialsync.command`` property in
``--junitxml``; a failing test's report has every board's console log.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._text import ESCAPES

GROUPS = pytest.StashKey[list]()
OUTCOME = pytest.StashKey[str]()
CONSOLE_IN_REPORT = 8 * 1024  # bytes of each board's console shown in a failing test's report
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_GROUP_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("serialsync", "serialsync: groups of boards synchronised over their serial consoles")
    group.addoption(
        "--serialsync-job",
        metavar="FILE",
        help="job file (serialsync or LAVA-shaped) whose devices make the serialsync_group fixture's group",
    )
    group.addoption(
        "--serialsync-coordinator",
        metavar="URL",
        help="redis://HOST:PORT/DB: share the group with other hosts (default: in this process)",
    )
    group.addoption(
        "--serialsync-group",
        metavar="NAME",
        help="the group's name in Redis; each test's group is NAME-<test id> (default: the job's name, or pytest)",
    )
    group.addoption(
        "--serialsync-devices",
        metavar="NAMES",
        help="comma-separated devices this host brings up; the others are brought up by other hosts",
    )
    group.addoption(
        "--serialsync-host-role",
        metavar="ROLE",
        default="host",
        help="the role of the test itself in the group, when it uses serialsync_host (default: host)",
    )
    group.addoption(
        "--serialsync-host-name",
        metavar="NAME",
        default="host",
        help="the test's device name in the group (default: host)",
    )
    group.addoption(
        "--serialsync-call-timeout",
        metavar="SECONDS",
        type=float,
        help="longest a multinode call may wait (default: the job's timeouts.call, else 300)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "serialsync(devices=None, job=None, host_role=None, host_name=None, local=None): "
        "the boards of the serialsync_group fixture: devices as (name, role[, connection]), or a job file",
    )


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def serialsync_devices() -> Any:
    """Override to define the group in Python: a list of (name, role[, connection]) or Device."""
    return None


class _Factory:
    def __init__(self, request: pytest.FixtureRequest, workdir: Path) -> None:
        self.request = request
        self.workdir = workdir
        self.groups: list[Any] = []
        request.node.stash.setdefault(GROUPS, [])

    def __call__(
        self,
        devices: Any = None,
        *,
        job: str | Path | None = None,
        host_role: str | None = None,
        host_name: str | None = None,
        local: Any = None,
        coordinator: Any = None,
        group: str | None = None,
    ) -> Any:
        """A group of boards: devices [(name, role[, connection]), ...] or a job file; host_role joins the test."""
        from .boards import start_group
        from .job import load_job

        config = self.request.config
        if (devices is None) == (job is None):
            pytest.fail("make_serialsync_group: give devices or job, one of them", pytrace=False)
        loaded = load_job(job) if job is not None else None
        if loaded is not None:
            devices = list(loaded.devices)
        host = None
        if host_role is not None:
            host = (host_name or config.getoption("serialsync_host_name"), host_role)
        if local is None and config.getoption("serialsync_devices"):
            local = [name.strip() for name in config.getoption("serialsync_devices").split(",") if name.strip()]
        if coordinator is None:
            coordinator = config.getoption("serialsync_coordinator")
        base = group or config.getoption("serialsync_group") or (loaded.name if loaded else "pytest")
        number = len(self.groups)
        test_id = zlib.crc32(f"{self.request.node.nodeid}#{number}".encode()) & 0xFFFFFFFF
        name = f"{_GROUP_CHARS.sub('-', base)[:50]}-{test_id:08x}"
        timeouts = None
        call_timeout = config.getoption("serialsync_call_timeout")
        if call_timeout is not None:
            from dataclasses import replace

            from .job import Timeouts

            timeouts = replace(loaded.timeouts if loaded else Timeouts(), call=call_timeout)
        made = start_group(
            devices,
            self.workdir / f"group{number}",
            coordinator=coordinator,
            group=name,
            host=host,
            local=local,
            timeouts=timeouts,
            job=loaded,
        )
        self.groups.append(made)
        self.request.node.stash[GROUPS].append(made)
        return made

    def _common(self, base: str, host_role: str | None, host_name: str | None) -> dict[str, Any]:
        config = self.request.config
        local = None
        if config.getoption("serialsync_devices"):
            local = [name.strip() for name in config.getoption("serialsync_devices").split(",") if name.strip()]
        test_id = zlib.crc32(f"{self.request.node.nodeid}#{len(self.groups)}".encode()) & 0xFFFFFFFF
        base = config.getoption("serialsync_group") or base
        return {
            "coordinator": config.getoption("serialsync_coordinator"),
            "group": f"{_GROUP_CHARS.sub('-', base)[:50]}-{test_id:08x}",
            "host": (host_name or config.getoption("serialsync_host_name"), host_role) if host_role else None,
            "local": local,
        }

    def labgrid(self, env: Any, *, host_role: str | None = None, host_name: str | None = None) -> Any:
        """A group of the labgrid environment's targets that have a SerialsyncDriver."""
        from .labgrid import labgrid_group

        made = labgrid_group(
            env, call_timeout=self.request.config.getoption("serialsync_call_timeout"),
            **self._common("labgrid", host_role, host_name),
        )  # fmt: skip
        self.groups.append(made)
        self.request.node.stash[GROUPS].append(made)
        return made

    def close(self) -> None:
        node = self.request.node
        outcome = node.stash.get(OUTCOME, "")
        reason = {
            "passed": f"{node.name} passed",
            "failed": f"{node.name} failed",
            "skipped": f"{node.name} was skipped",
        }.get(outcome, f"{node.name} was interrupted or did not finish")
        for made in reversed(self.groups):
            made.close(reason)
        for made in self.groups:
            for line in made.log.lines:
                kind = "serialsync.command" if ": $ " in line else "serialsync.call"
                node.user_properties.append((kind, line))


@pytest.fixture
def make_serialsync_group(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[_Factory]:
    """make_serialsync_group(devices=[...] | job=..., host_role=...) -> BoardGroup, closed at teardown."""
    factory = _Factory(request, tmp_path / "serialsync")
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def serialsync_group(request: pytest.FixtureRequest, make_serialsync_group: _Factory, serialsync_devices: Any) -> Any:
    """The group of boards of the test's marker, serialsync_devices or --serialsync-job."""
    config = request.config
    marker = request.node.get_closest_marker("serialsync")
    options = dict(marker.kwargs) if marker is not None else {}
    unknown = set(options) - {"devices", "job", "host_role", "host_name", "local"}
    if unknown:
        pytest.fail(f"@pytest.mark.serialsync: unknown arguments {sorted(unknown)}", pytrace=False)
    devices = options.pop("devices", None)
    job = options.pop("job", None)
    if job is not None:
        job = Path(request.node.path).parent / job
    elif devices is None and serialsync_devices is not None:
        devices = serialsync_devices
    elif devices is None and config.getoption("serialsync_job"):
        job = Path(config.invocation_params.dir) / config.getoption("serialsync_job")
    host_role = options.pop("host_role", None)
    if host_role is None and "serialsync_host" in request.fixturenames:
        host_role = config.getoption("serialsync_host_role")
    if devices is None and job is None and (getattr(config.option, "lg_env", None) or os.environ.get("LG_ENV")):
        # labgrid's own pytest plugin holds the environment: its targets with a SerialsyncDriver
        return make_serialsync_group.labgrid(request.getfixturevalue("env"), host_role=host_role, **options)
    if devices is None and job is None:
        pytest.fail(
            "serialsync_group needs its boards: @pytest.mark.serialsync(devices=[(name, role, connection), ...]) "
            "or (job=FILE), an override of the serialsync_devices fixture, or --serialsync-job FILE",
            pytrace=False,
        )
    return make_serialsync_group(devices, job=job, host_role=host_role, **options)


@pytest.fixture
def serialsync_host(serialsync_group: Any) -> Any:
    """This test as a member of serialsync_group: send, wait, wait_all, sync."""
    return serialsync_group.host


# --- reports -------------------------------------------------------------------------------------


def _console_text(data: bytes) -> str:
    text = data[-CONSOLE_IN_REPORT:].decode("utf-8", "replace").replace("\r\n", "\n")
    return _CONTROLS.sub("", ESCAPES.sub("", text))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    groups = item.stash.get(GROUPS, None)
    if not groups:
        return
    report = outcome.get_result()
    if report.when == "call":
        item.stash[OUTCOME] = report.outcome
    if report.when == "teardown":
        return
    lines = [line for made in groups for line in made.log.lines]
    if lines and report.when == "call":
        report.sections.append(("serialsync calls and commands", "\n".join(lines)))
    if report.failed:
        for made in groups:
            for board in made:
                report.sections.append((f"serialsync console {board.name}", _console_text(board.console_log())))
