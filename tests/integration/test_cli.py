"""The command line as a user runs it: `python -m serialsync`, its help, its exit codes and its JSON."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "fixtures" / "recorded" / "simulated"
LAVA_LOG = ROOT / "fixtures" / "lava-job-log-server.yaml"
SUBCOMMANDS = ["run", "check", "replay", "report", "groups", "demo", "helpers", "install-helpers"]


def serialsync(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "serialsync", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


# --- python -m serialsync, help texts ---------------------------------------------------
def assert_examples_and_exit_codes(text: str) -> None:
    assert "examples:" in text, text
    assert "exit status:" in text, text
    status = text[text.index("exit status:") :]
    for code in ("0", "1", "2", "130", "143"):
        assert f"\n  {code} " in status, (code, status)


def test_cli_python_m_serialsync_prints_help_with_examples_and_exit_codes():
    done = serialsync("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: serialsync ")
    assert_examples_and_exit_codes(done.stdout)
    for command in SUBCOMMANDS:
        assert command in done.stdout


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_cli_each_subcommand_s_help_shows_examples_and_exit_codes(command):
    done = serialsync(command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: serialsync {command}")
    assert_examples_and_exit_codes(done.stdout)
    examples = done.stdout[done.stdout.index("examples:") : done.stdout.index("exit status:")]
    assert f"serialsync {command}" in examples


def test_cli_every_subcommand_and_argument_has_help_text():
    from serialsync.cli import build_parser

    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    helped = {choice.dest for choice in subparsers._choices_actions if choice.help}
    assert helped == set(subparsers.choices) == set(SUBCOMMANDS)
    for name, sub in [("serialsync", parser), *subparsers.choices.items()]:
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)


def test_cli_a_bad_command_line_exits_2():
    assert serialsync("frobnicate").returncode == 2
    assert serialsync("check").returncode == 2


# --- check --json -------------------------------------------------------------------------
JOB = """\
name: plan
devices:
  - {name: s1, role: server}
  - {name: c1, role: client}
roles:
  server:
    steps:
      - lava-send ready
      - lava-wait-all done client
  client:
    steps:
      - lava-wait ready
      - lava-wait never-sent
"""


def test_cli_check_json_gives_the_plan_and_its_findings(tmp_path):
    job = tmp_path / "plan.yaml"
    job.write_text(JOB)
    human = serialsync("check", str(job))
    done = serialsync("check", "--json", str(job))
    assert done.returncode == human.returncode == 1  # a wait nobody answers
    plan = json.loads(done.stdout)
    assert plan["job"] == "plan" and plan["source"] == str(job)
    assert plan["devices"] == [{"name": "s1", "role": "server"}, {"name": "c1", "role": "client"}]
    assert list(plan["roles"]) == ["server", "client"]
    calls = [(c["api"], c["message_id"], c["wait_role"], c["line"], c["kind"]) for c in plan["roles"]["server"]]
    assert calls == [("lava-send", "ready", None, 8, "helper"), ("lava-wait-all", "done", "client", 9, "helper")]
    assert all(c["role"] == "client" for c in plan["roles"]["client"])
    blocking = {(f["line"], f["blocking"]) for f in plan["findings"] if "never-sent" in f["text"]}
    assert blocking == {(13, True)}
    for finding in plan["findings"]:  # the same findings the human output lists
        assert finding["text"] in human.stdout


def test_cli_check_json_of_lava_requests_marks_them_as_requests():
    done = serialsync("check", "--json", str(ROOT / "examples" / "lava-iperf.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr
    kinds = {c["kind"] for calls in json.loads(done.stdout)["roles"].values() for c in calls}
    assert kinds == {"request", "helper"}


# --- replay --json, replay of what is not a run -------------------------------------------
def test_cli_replay_json_of_a_log_lists_every_event_with_its_line():
    human = serialsync("replay", str(LAVA_LOG))
    done = serialsync("replay", "--json", str(LAVA_LOG))
    assert done.returncode == human.returncode == 0
    found = json.loads(done.stdout)
    assert found["log"] == str(LAVA_LOG)
    assert found["count"] == len(found["events"]) == int(human.stdout.splitlines()[-1].split()[0])
    send = found["events"][0]
    assert send["event"] == "SendRequest" and send["message_id"] == "server-up"
    assert send["dialect"] == "lava"
    assert {"key": "ipaddr", "value": "10.0.0.1"} in send["data"]
    lines = LAVA_LOG.read_text().splitlines()
    assert "LAVA_SEND server-up" in lines[send["line"] - 1]
    assert any(e["event"] == "Discarded" and "FROB" in e["reason"] for e in found["events"])
    # The human lines are unchanged: path:line: description.
    assert human.stdout.splitlines()[0] == f"{LAVA_LOG}:{send['line']}: {send['text']}"


def test_cli_replay_json_of_a_recorded_run_gives_each_device_s_verdict(tmp_path):
    directory = tmp_path / "run"
    shutil.copytree(RECORDED, directory)
    log = directory / "server1.console.log"
    log.write_bytes(log.read_bytes().replace(b"who=client1%20", b"who=clientX%20"))
    done = serialsync("replay", "--json", str(directory))
    assert done.returncode == 1, done.stderr
    run = json.loads(done.stdout)
    assert run["run"] == str(directory) and run["passed"] is False
    devices = {d["name"]: d for d in run["devices"]}
    assert set(devices) == {"server1", "client1", "client2"}
    assert devices["client1"]["passed"] is True and devices["client1"]["mismatches"] == []
    server = devices["server1"]
    assert server["passed"] is False and server["role"] == "server" and server["finished"] is True
    assert server["answered"] == server["pauses"] >= 7
    assert any("clientX" in m for m in server["mismatches"])


def test_cli_replay_of_a_directory_without_results_says_what_is_missing(tmp_path):
    (tmp_path / "server1.console.log").write_bytes(b"hello\n")
    done = serialsync("replay", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"serialsync: {tmp_path} has no results.json: is it the output directory of serialsync run?"
    )
    assert "Traceback" not in done.stderr


def test_cli_replay_of_a_path_that_does_not_exist_exits_2_without_a_traceback(tmp_path):
    missing = tmp_path / "nothing-here"
    for args in (["replay", str(missing)], ["replay", "--json", str(missing)]):
        done = serialsync(*args)
        assert done.returncode == 2, done
        assert done.stderr.strip() == f"serialsync: {missing}: no such file or directory"
        assert done.stdout == ""


# --- groups clear of a group that is not there ---------------------------------------------
@pytest.mark.slow
def test_cli_groups_clear_of_a_group_that_does_not_exist_says_so_and_exits_1(redis_url):
    import redis

    name = f"t{uuid.uuid4().hex[:10]}"
    done = serialsync("groups", "clear", redis_url, name)
    assert done.returncode == 1, done
    assert done.stderr.strip() == f"serialsync: no group {name!r} at {redis_url}"
    # A group that is there is cleared, and then it is not there any more.
    client = redis.Redis.from_url(redis_url)
    try:
        client.sadd(f"serialsync:{name}:members", "d1")
        done = serialsync("groups", "clear", redis_url, name)
        assert done.returncode == 0, done
        assert done.stdout.startswith(f"cleared group {name!r}")
        assert client.keys(f"serialsync:{name}:*") == []
    finally:
        client.close()
    assert serialsync("groups", "clear", redis_url, name).returncode == 1


# --- replay streams a huge log --------------------------------------------------------------
def peak_rss_of_replay(log: Path, out: Path) -> tuple[int, int]:
    """(exit status, peak RSS in bytes) of `python -m serialsync replay LOG`, its output to *out*."""
    with out.open("wb") as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "serialsync", "replay", str(log)], stdout=stdout)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss * 1024  # Linux: kilobytes


def block_of(form: str) -> tuple[bytes, int]:
    """A block of console noise that ends in one lava-sync marker, and its number of lines."""
    if form == "raw":
        noise = b"[  123.456789] some kernel line that says nothing about the protocol at all, padded\r\n"
        return noise * 1000 + b"<LAVA_MULTI_NODE> <LAVA_SYNC round>\r\n", 1001
    entry = b'- {"dt": "2026-01-01T00:00:00.000000", "lvl": "target", "msg": "%s"}\n'
    noise = entry % (b"[    1.234567] a long console line " + b"x" * 8000)
    return noise * 60 + entry % b"<LAVA_MULTI_NODE> <LAVA_SYNC round>", 61


@pytest.mark.slow
@pytest.mark.parametrize("form", ["raw", "lava"])
def test_cli_replay_of_a_huge_log_streams_it_in_flat_memory(tmp_path, form):
    block, lines_per_block = block_of(form)
    small, huge = tmp_path / "small.log", tmp_path / "huge.log"
    small.write_bytes(block)
    with huge.open("wb") as f:
        written = rounds = 0
        while written < 50_000_000:
            f.write(block)
            written += len(block)
            rounds += 1
    status, small_peak = peak_rss_of_replay(small, tmp_path / "small.out")
    assert status == 0
    status, huge_peak = peak_rss_of_replay(huge, tmp_path / "huge.out")
    assert status == 0
    lines = (tmp_path / "huge.out").read_bytes().splitlines()
    assert lines[-1] == f"{rounds} events".encode()
    assert lines[1] == f"{huge}:{2 * lines_per_block}: SyncRequest[lava] message_id='round'".encode()
    growth = huge_peak - small_peak
    assert growth < 40_000_000, f"peak RSS {huge_peak / 1e6:.0f} MB, {growth / 1e6:.0f} MB above a small log's"
