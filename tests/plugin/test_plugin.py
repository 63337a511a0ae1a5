"""The pytest plugin, through pytest's own pytester: suites run inside the test on simulated boards.

Runs in this process are given ``-p no:labgrid``: labgrid's plugin starts a
process-wide step logger that cannot be started twice in one process.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

IN_PROCESS = ("-p", "no:labgrid", "-p", "no:cacheprovider")

BOARDS = """
import pytest

BOARDS = [
    ("server1", "server", "simulated:busybox"),
    ("client1", "client", "simulated:busybox"),
    ("client2", "client", "simulated:sh"),
]
"""


def test_plugin_group_host_and_boards_meet_and_exchange_data(pytester):
    pytester.makepyfile(
        BOARDS
        + """
from serialsync.boards import values

@pytest.mark.serialsync(devices=BOARDS)
def test_group(serialsync_group, serialsync_host):
    group, host = serialsync_group, serialsync_host
    assert [b.name for b in group] == ["server1", "client1", "client2"]
    result = group["server1"].run("echo hello; lava-self; lava-role; lava-group")
    assert result.ok and result.output.splitlines()[:3] == ["hello", "server1", "server"]
    assert "host\\thost" in result.output  # the test is a member the boards can see
    # the test hands the boards an address, then waits until every client reports ready
    host.send("server-address", ip="10.0.0.1", banner="a > b = 'c'")
    command = 'lava-wait server-address && lava-send client-ready "who=$(lava-self)"'
    clients = [b.start(command) for b in group.of_role("client")]
    ready = host.wait_all("client-ready", role="client", timeout=30)
    assert values(ready, "who") == {"client1": "client1", "client2": "client2"}
    assert all(c.wait(30).ok for c in clients)
    cached = group["client1"].run('grep -F "banner=" "$LAVA_MULTI_NODE_CACHE"').output
    assert cached.strip() == "host:banner=a > b = 'c'"
    # every board in lava-sync at the same time, and the test at the same barrier
    syncing = [b.start("lava-sync all-up && echo through") for b in group]
    group["client2"].expect(r"SYNC all-up \\S+>", timeout=30)  # the console, while markers are served
    host.sync("all-up", timeout=30)
    for running in syncing:
        assert running.wait(30).output.strip() == "through"
    status = group["client1"].run("(exit 3)")
    assert status.status == 3
"""
    )
    result = pytester.runpytest(*IN_PROCESS, "-rP")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*serialsync calls and commands*",
            "host: lava-send server-address: ok*",
            "client*: lava-wait server-address: ok*",
            "host: lava-wait-all client-ready client: ok*",
            "host: lava-sync all-up: ok*",
            "server1: $ lava-sync all-up && echo through: exit 0*",
        ]
    )


def test_plugin_failing_test_gets_console_logs_and_leaves_no_board_waiting(pytester):
    pytester.makepyfile(
        BOARDS
        + """
@pytest.mark.serialsync(devices=BOARDS[:2])
def test_fails(serialsync_group, serialsync_host):
    serialsync_group["server1"].run("echo the-server-was-here")
    serialsync_group["client1"].start("lava-sync never-reached")
    serialsync_group["client1"].expect(r"SYNC never-reached \\S+>")
    assert False, "the test failed while client1 waited"
"""
    )
    result = pytester.runpytest(*IN_PROCESS, f"--basetemp={pytester.path / 'tmp'}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*serialsync console server1*", "*the-server-was-here*", "*serialsync console client1*"]
    )
    # client1's lava-sync was answered nack at teardown: its helper ended, saying why
    logs = list((pytester.path / "tmp").rglob("client1.console.log"))
    assert len(logs) == 1
    text = logs[0].read_bytes()
    assert b"lava-sync: client1 has left the group (test_fails failed)" in text, text[-2000:]
    assert b"__SSPYRC_1:1__" in text  # the command ended (status 1), not killed with the shell


def test_plugin_junitxml_has_every_call_and_command(pytester):
    pytester.makepyfile(
        BOARDS
        + """
@pytest.mark.serialsync(devices=BOARDS)
def test_sync(serialsync_group, serialsync_host):
    running = [b.start("lava-sync go") for b in serialsync_group]
    serialsync_host.sync("go", timeout=30)
    assert all(r.wait(30).ok for r in running)
"""
    )
    xml = pytester.path / "out.xml"
    result = pytester.runpytest(*IN_PROCESS, f"--junitxml={xml}", "-o", "junit_family=xunit1")
    result.assert_outcomes(passed=1)
    properties = [(p.get("name"), p.get("value")) for p in ET.parse(xml).iter("property")]
    calls = [value for name, value in properties if name == "serialsync.call"]
    commands = [value for name, value in properties if name == "serialsync.command"]
    assert sorted(c.split(":")[0] for c in calls) == ["client1", "client2", "host", "server1"]
    assert all(": lava-sync go: ok (" in c for c in calls)
    assert sorted(c.split(":")[0] for c in commands) == ["client1", "client2", "server1"]
    assert all("$ lava-sync go: exit 0" in c for c in commands)


def test_plugin_groups_from_job_files_option_and_marker(pytester):
    repo = Path(__file__).resolve().parents[2]
    pytester.makepyfile(
        test_jobs=f"""
import pytest
from serialsync.boards import values

def test_from_option(serialsync_group):
    assert sorted(b.role for b in serialsync_group) == ["client", "server"]
    running = [b.start("lava-sync round") for b in serialsync_group]
    assert [r.wait(30).status for r in running] == [0, 0]

@pytest.mark.serialsync(job={str(repo / "examples" / "lava-boot-wait.yaml")!r})
def test_lava_shaped_job_with_a_login(serialsync_group, serialsync_host):
    # server1 asks for a login first: the job's auto_login answered it
    assert serialsync_group["server1"].run("lava-role").output.strip() == "server"
    serialsync_group["client1"].run("lava-send booted kernel=6.1")
    assert values(serialsync_host.wait("booted", timeout=30), "kernel") == {{"client1": "6.1"}}
"""
    )
    result = pytester.runpytest(*IN_PROCESS, "--serialsync-job", str(repo / "examples" / "pair.yaml"))
    result.assert_outcomes(passed=2)


def test_plugin_devices_fixture_and_factory(pytester):
    pytester.makepyfile(
        """
import pytest

@pytest.fixture
def serialsync_devices():
    return [("a", "peer", "simulated:sh"), ("b", "peer", "simulated:sh")]

def test_override(serialsync_group, make_serialsync_group):
    assert [b.name for b in serialsync_group] == ["a", "b"]
    other = make_serialsync_group([("c", "solo", "simulated:sh")], host_role="driver")
    other.host.send("hello", text="from the test")
    assert other["c"].run('lava-wait hello && cat "$LAVA_MULTI_NODE_CACHE"').output.strip() == "host:text=from the test"

def test_inert():
    pass
"""
    )
    pytester.makepyfile(
        test_nothing_given="""
def test_no_group_given(serialsync_group):
    pass
"""
    )
    result = pytester.runpytest(*IN_PROCESS)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*serialsync_group needs its boards*"])


def test_plugin_options_in_help(pytester):
    result = pytester.runpytest(*IN_PROCESS, "--help")
    result.stdout.fnmatch_lines(
        ["*--serialsync-job=FILE*", "*--serialsync-coordinator=URL*", "*--serialsync-devices=NAMES*"]
    )


def _processes_under(directory: Path) -> list[str]:
    """Processes whose working directory is inside directory (simulated boards run in theirs)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            if cwd.startswith(str(directory)):
                found.append(f"{entry} in {cwd}")
    return found


def _read_until(proc: subprocess.Popen, text: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while text not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {text!r} in the inner run's output: {seen[-2000:]!r}"
        if select.select([proc.stdout], [], [], left)[0]:
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, f"the inner run ended: {seen[-3000:]!r}"
            seen += chunk
    return seen


def test_plugin_interrupted_run_leaves_no_board_blocked_and_no_process(pytester):
    pytester.makepyfile(
        BOARDS
        + """
@pytest.mark.serialsync(devices=BOARDS)
def test_interrupted(serialsync_group, serialsync_host):
    for board in serialsync_group:
        board.start("lava-sync the-test-never-comes")
    for board in serialsync_group:
        board.expect(r"SYNC the-test-never-comes \\S+>")
    print("EVERY-BOARD-WAITS", flush=True)
    serialsync_host.wait("nobody-sends-this", timeout=600)
"""
    )
    basetemp = pytester.path / "tmp"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", f"--basetemp={basetemp}"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        seen = _read_until(proc, b"EVERY-BOARD-WAITS", 120)
        assert _processes_under(basetemp)  # the boards' shells are there
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = (seen + rest).decode("utf-8", "replace")
    assert proc.returncode == 2, output  # pytest's exit status for an interrupted run
    assert "KeyboardInterrupt" in output
    for name in ("server1", "client1", "client2"):
        [log] = basetemp.rglob(f"{name}.console.log")
        text = log.read_bytes()
        # the helper in lava-sync was answered nack and ended: the board does not wait on
        assert f"lava-sync: {name} has left the group (test_interrupted was interrupted".encode() in text, text[-1500:]
        assert b"__SSPYRC_1:1__" in text
    assert _processes_under(basetemp) == []


def test_plugin_example_runs_with_its_documented_command(pytester):
    example = Path(__file__).resolve().parents[2] / "examples" / "pytest"
    xml = pytester.path / "results.xml"
    result = pytester.runpytest_subprocess(str(example), "-rA", f"--junitxml={xml}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*host: lava-wait-all client-ready client: ok*"])
    assert "serialsync.call" in xml.read_text()
