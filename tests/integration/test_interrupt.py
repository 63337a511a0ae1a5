"""Ctrl-C and SIGTERM stop a real `serialsync run` cleanly: boards interrupted, calls answered, results written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

JOB = """
name: interrupted
timeouts: {step: 300, call: 300}
devices:
  - {name: srv, role: server}
  - {name: cli, role: client}
roles:
  server:
    steps:
      - lava-wait-all ready client; echo "wait-status=$?"
      - echo after-the-wait
  client:
    steps:
      - lava-send hello
      - sleep 300
      - lava-send ready
"""


def start(job: Path, out: Path, *extra: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "serialsync", "run", str(job), "-o", str(out), *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)


def read_until(process: subprocess.Popen, *wanted: str) -> list[str]:
    """Progress lines until every wanted text was seen (each on some line): the run is where we want it."""
    seen: list[str] = []
    missing = set(wanted)
    assert process.stdout is not None
    # A run that never gets there is ended, so the test fails instead of hanging.
    watchdog = threading.Timer(120, process.kill)
    watchdog.start()
    try:
        for line in process.stdout:
            seen.append(line)
            missing = {w for w in missing if w not in line}
            if not missing:
                return seen
    finally:
        watchdog.cancel()
    raise AssertionError(f"the run ended before showing {missing}: {''.join(seen)}")


def descendants(pid: int) -> set[int]:
    """Every live process below pid (the boards' shells, what their steps run)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


@pytest.mark.parametrize(
    ("signum", "status", "said"), [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")]
)
def test_a_signal_mid_run_interrupts_the_boards_answers_the_calls_and_writes_results(tmp_path, signum, status, said):
    job = tmp_path / "job.yaml"
    job.write_text(JOB)
    out = tmp_path / "out"
    process = start(job, out)
    read_until(process, "waits: lava-wait-all ready client", "sleep 300")
    children = descendants(process.pid)
    assert children, "the boards' shells run below serialsync"
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == status, stdout + stderr
    assert "Traceback" not in stderr and "Traceback" not in stdout
    assert f"run interrupted by {said}" in stderr and "results written" in stderr
    assert not [pid for pid in children if alive(pid)], "processes left behind"

    results = json.loads((out / "results.json").read_text())
    assert results["result"] == "interrupted" and said in results["interrupted"]
    devices = {d["name"]: d for d in results["devices"]}
    # The server's pending call was answered: its helper printed the nack and returned.
    (wait,) = [c for c in devices["srv"]["calls"] if c["api"] == "lava-wait-all"]
    assert not wait["ok"] and "run interrupted" in wait["reason"]
    server_console = (out / "srv.console.log").read_bytes()
    assert b"run interrupted" in server_console and b"wait-status=1" in server_console
    # The client's sleep was interrupted on the board; what never ran is reported as skipped.
    client_steps = [(s["name"], s["result"]) for s in devices["cli"]["steps"]]
    assert client_steps == [("lava-send hello", "pass"), ("sleep 300", "skip"), ("lava-send ready", "skip")]
    assert "not finished: run interrupted" in devices["cli"]["steps"][1]["reason"]
    assert devices["srv"]["steps"][-1]["result"] == "skip"
    assert (out / "results.xml").exists()  # validated against the JUnit schema by conftest


def test_a_second_ctrl_c_stops_at_once_and_leaves_no_process(tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text(JOB)
    process = start(job, tmp_path / "out")
    read_until(process, "sleep 300")
    children = descendants(process.pid)
    process.send_signal(signal.SIGINT)
    assert process.stderr is not None
    # The first one was heard (its line is out) before the second is sent.
    while "press Ctrl-C again to stop at once" not in (line := process.stderr.readline()):
        assert line, "serialsync ended before saying it heard the first Ctrl-C"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert not [pid for pid in children if alive(pid)], "processes left behind"


def test_an_interrupted_host_leaves_the_redis_group_and_the_other_host_hears_it(tmp_path, redis_url):
    job = tmp_path / "job.yaml"
    job.write_text(JOB)
    group = f"t{uuid.uuid4().hex[:10]}"
    shared = ["--coordinator", redis_url, "--group", group]
    server_host = start(job, tmp_path / "host1", "--devices", "srv", *shared)
    client_host = start(job, tmp_path / "host2", "--devices", "cli", *shared)
    read_until(client_host, "sleep 300")
    read_until(server_host, "waits: lava-wait-all ready client")
    client_host.send_signal(signal.SIGINT)
    client_host.communicate(timeout=60)
    assert client_host.returncode == 130
    # The other host's pending call fails now, naming the device that left: not at its timeout.
    server_host.communicate(timeout=60)  # not its 300 s call timeout
    assert b"wait-status=1" in (tmp_path / "host1" / "srv.console.log").read_bytes()
    results = json.loads((tmp_path / "host1" / "results.json").read_text())
    (wait,) = [c for c in results["devices"][0]["calls"] if c["api"] == "lava-wait-all"]
    assert not wait["ok"] and "cli" in wait["reason"] and "run interrupted by Ctrl-C" in wait["reason"]


def test_replay_of_a_run_interrupted_before_results_says_what_is_missing(tmp_path):
    (tmp_path / "srv.console.log").write_bytes(b"board$ ")
    done = subprocess.run(
        [sys.executable, "-m", "serialsync", "replay", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "results.json" in done.stderr and "Traceback" not in done.stderr
