"""Whole groups of simulated boards: real shells on ptys running the real helpers."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pexpect
import pytest

from serialsync._resources import helpers_dir
from serialsync.cli import main
from serialsync.console import attach, expect_serviced
from serialsync.coordinator import Member, MemoryCoordinator
from serialsync.job import parse_job, run_job
from serialsync.protocol import wire

pytestmark = pytest.mark.slow


def need(*programs: str) -> None:
    for program in programs:
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed (CI installs it: apt-get install busybox-static dash)")


def run(tmp_path: Path, text: str):
    job = parse_job(text, source="test.yaml")
    return run_job(job, tmp_path / "out")


def device(result, name):
    return next(d for d in result.devices if d.name == name)


def test_group_demo_passes_and_writes_results(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative output directory, as `make demo` uses
    assert main(["demo", "-o", "out"]) == 0
    tmp_path = tmp_path / "out"
    out = capsys.readouterr().out
    assert "job 'demo': PASS" in out
    for name in ("server1", "client1", "client2"):
        assert f"{name}  " in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert [d["result"] for d in results["devices"]] == ["pass", "pass", "pass"]
    server = results["devices"][0]
    assert {(c["api"], c["message_id"]) for c in server["calls"]} >= {
        ("lava-send", "server-up"),
        ("lava-wait-all", "client-ready"),
        ("lava-sync", "tests-done"),
    }
    log = (tmp_path / "server1.console.log").read_bytes()
    assert b"<SERIALSYNC1 " in log and b"#SERIALSYNC1 " in log


def test_group_mixed_shells_sync_in_a_loop_and_exchange_nasty_values(tmp_path):
    need("dash", "bash", "busybox")
    text = r"""
devices:
  - {name: srv, role: server, connection: "simulated:busybox"}
  - {name: c-dash, role: client, connection: "simulated:dash"}
  - {name: c-bash, role: client, connection: "simulated:bash"}
  - {name: c-bbox, role: client, connection: "simulated:busybox"}
timeouts: {step: 60, call: 30}
roles:
  server:
    steps:
      - for i in 1 2 3 4 5; do lava-sync round || exit 1; done
      - lava-wait-all values client
      - grep -qxF 'c-dash:v=$(touch pwned) `touch pwned2`; a>b "q" '"'"'s'"'"' é' "$LAVA_MULTI_NODE_CACHE"
      - test ! -e pwned && test ! -e pwned2
      - lava-send values && lava-wait-all values
  client:
    steps:
      - for i in 1 2 3 4 5; do lava-sync round || exit 1; done
      - lava-send values 'v=$(touch pwned) `touch pwned2`; a>b "q" '"'"'s'"'"' é' "who=$(lava-self)"
"""
    result = run(tmp_path, text)
    assert result.passed, [(d.name, d.reason) for d in result.devices]
    for d in result.devices:
        syncs = [c for c in d.calls if c["api"] == "lava-sync"]
        assert len(syncs) == 5 and all(c["ok"] for c in syncs)
    # byte-exact through the percent-encoded sidecar too
    enc = (tmp_path / "out" / "srv" / "lava_multi_node_cache.txt.enc").read_text().splitlines()
    values = {line.split("=", 1)[0]: wire.decode_value(line.split("=", 1)[1].encode()) for line in enc}
    assert values["c-bash:v"] == "$(touch pwned) `touch pwned2`; a>b \"q\" 's' é".encode()
    assert values["c-bbox:who"] == b"c-bbox"


def test_group_timed_out_wait_is_nacked_on_the_board(tmp_path):
    text = """
devices:
  - {name: a, role: server}
  - {name: b, role: client}
timeouts: {call: 1, step: 60}
roles:
  server:
    steps:
      - lava-wait never-sent; echo "rc=$?"
      - lava-send a-done
  client:
    steps:
      # each wait is nacked after 1s; the helper exits 1 and the loop asks again
      - until lava-wait a-done; do echo retrying; done
"""
    started = time.monotonic()
    result = run(tmp_path, text)
    assert result.passed  # the step itself reported the nack and went on
    log = (tmp_path / "out" / "a.console.log").read_bytes()
    assert b"lava-wait: timed out after 1 s waiting for 'never-sent'" in log
    assert b"rc=1" in log
    calls = device(result, "a").calls
    assert calls[0]["api"] == "lava-wait" and not calls[0]["ok"]
    assert "never-sent" in calls[0]["reason"] and "b never sent it" in calls[0]["reason"]
    assert set(calls[0]["last_console_lines"]) == {"b"}  # what the device that could have sent it was doing
    assert b"retrying" in (tmp_path / "out" / "b.console.log").read_bytes()
    assert time.monotonic() - started < 30


def test_group_fails_fast_when_a_device_fails(tmp_path):
    text = """
devices:
  - {name: srv, role: server}
  - {name: c1, role: client}
  - {name: c2, role: client}
timeouts: {call: 120, step: 120}
roles:
  server:
    steps:
      - lava-wait-all ready client
  client:
    steps:
      # c2's board dies (its login shell and the step are killed) before it sends 'ready'
      - if [ "$(lava-self)" = c1 ]; then lava-send ready; else kill -KILL $$ 0; fi
      - lava-sync never-reached
"""
    started = time.monotonic()
    result = run(tmp_path, text)
    elapsed = time.monotonic() - started
    assert not result.passed
    srv = device(result, "srv")
    assert srv.result == "fail"
    assert "c2" in srv.calls[0]["reason"]
    assert device(result, "c2").steps[0].reason == "console closed"
    assert elapsed < 30, f"took {elapsed:.1f}s: waited for the timeout instead of failing fast"


def test_group_blocked_wait_does_not_stall_the_others(tmp_path):
    text = """
devices:
  - {name: srv, role: server}
  - {name: c1, role: client}
  - {name: c2, role: client}
roles:
  server:
    steps:
      - lava-wait go
  client:
    steps:
      - |
        me=$(lava-self)
        if [ "$me" = c1 ]; then peer=c2; else peer=c1; fi
        i=0
        while [ $i -lt 20 ]; do
          i=$((i + 1))
          lava-send "$me-$i" n=$i || exit 1
          lava-wait "$peer-$i" || exit 1
        done
        lava-send go
"""
    result = run(tmp_path, text)
    assert result.passed, [(d.name, d.reason) for d in result.devices]
    assert len(device(result, "c1").calls) == 41


@pytest.mark.parametrize(("clients", "size"), [(6, 1500), (64, 300)])
def test_group_reply_longer_than_a_tty_line_arrives_whole(tmp_path, clients, size):
    count = clients
    clients = "\n".join(f"  - {{name: c{i}, role: client, connection: 'simulated:dash'}}" for i in range(count))
    text = f"""
devices:
  - {{name: srv, role: server}}
{clients}
roles:
  server:
    steps:
      - lava-wait-all big client
  client:
    steps:
      - lava-send big "blob=$(lava-self):$(printf '%0{size}d' 7)"
"""
    result = run(tmp_path, text)
    assert result.passed, [(d.name, d.reason) for d in result.devices]
    cache = (tmp_path / "out" / "srv" / "lava_multi_node_cache.txt").read_bytes()
    lines = cache.splitlines()
    assert len(lines) == count
    expected = {f"c{i}:blob=c{i}:".encode() + b"0" * (size - 1) + b"7" for i in range(count)}
    assert set(lines) == expected
    log = (tmp_path / "out" / "srv.console.log").read_bytes()
    assert log.count(b"#SERIALSYNC1 ") > count * size // 1000  # far over 4095 bytes, in lines of at most 1000


def test_group_board_without_group_file_asks_the_host(tmp_path):
    text = """
devices:
  - {name: srv, role: server}
  - {name: c1, role: client}
roles:
  server:
    steps:
      - rm "$SERIALSYNC_GROUP_FILE" && test "$(lava-role list)" = "$(printf 'server\\nclient')"
      - test -s "$SERIALSYNC_GROUP_FILE" && test "$(lava-self)" = srv
  client:
    steps:
      - lava-group server
"""
    result = run(tmp_path, text)
    assert result.passed, [(d.name, d.reason) for d in result.devices]
    assert [c["api"] for c in device(result, "srv").calls] == ["lava-group"]


def test_cli_exit_status_for_bad_and_failing_jobs(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("devices:\n  - {name: a, role: server}\nroles:\n  server: {steps: [1]}\n")
    assert main(["run", str(bad), "-o", str(tmp_path / "o1")]) == 2
    assert f"{bad}:4: roles.server.steps[0]" in capsys.readouterr().err
    failing = tmp_path / "failing.yaml"
    failing.write_text("devices:\n  - {name: a, role: server}\nroles:\n  server: {steps: ['false']}\n")
    assert main(["run", str(failing), "-o", str(tmp_path / "o2"), "-q"]) == 1
    assert "exit status 1" in capsys.readouterr().out


def test_attach_services_markers_in_a_foreign_pexpect_session(tmp_path):
    """A dispatcher's own pexpect session: markers answered while it expects its pattern."""
    group = MemoryCoordinator([Member("dut1", "server"), Member("dut2", "client")])
    group.send("dut2", "hello", {"greeting": b"hi there"})
    env = {
        "PATH": f"{helpers_dir()}:/usr/bin:/bin",
        "PS1": "$ ",
        "LAVA_MULTI_NODE_CACHE": str(tmp_path / "cache"),
        "SERIALSYNC_GROUP_FILE": str(tmp_path / "group"),
    }
    session = pexpect.spawn("sh", ["-i"], env=env, cwd=str(tmp_path), timeout=20)
    session.delaybeforesend = None
    try:
        watcher = attach(session, "dut1", group, call_timeout=10)
        session.sendline("lava-wait hello && lava-self && echo DONE''$?")
        index = expect_serviced(session, watcher, [r"DONE0", r"DONE\d+"], timeout=20)
        assert index == 0
        assert b"dut1" in session.before  # lava-self asked the host: GROUP over the console
        assert (tmp_path / "cache").read_bytes() == b"dut2:greeting=hi there\n"
    finally:
        session.close(force=True)


def test_group_host_memory_stays_flat_on_a_chatty_step(tmp_path):
    """A step printing megabytes must not be held in memory by the host."""
    import tracemalloc

    text = """
devices:
  - {name: a, role: solo}
roles:
  solo:
    steps:
      - i=0; while [ $i -lt 2000 ]; do i=$((i+1)); printf '%04000d\\n' $i; done
      - lava-sync end
"""
    tracemalloc.start()
    try:
        result = run(tmp_path, text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.passed, [(d.name, d.reason) for d in result.devices]
    assert (tmp_path / "out" / "a.console.log").stat().st_size > 8_000_000  # all of it reached the log
    assert peak < 3_000_000, f"peak {peak} bytes while the board printed 8 MB"


def test_group_a_step_that_names_a_failure_pattern_is_not_its_own_panic(tmp_path):
    """With echo on, the step's echo holds the pattern: only what the board prints counts."""
    text = """
devices:
  - {name: a, role: solo, connection: "simulated:dash"}
timeouts: {step: 60}
roles:
  solo:
    steps:
      - stty echo
      - '! grep -q "Kernel panic - not syncing" /dev/null'
      - 'echo "Kernel panic - not syncing: VFS: Unable to mount root fs"'
      - echo never typed
"""
    result = run(tmp_path, text)
    a = device(result, "a")
    assert [s.result for s in a.steps] == ["pass", "pass", "fail", "skip"]
    assert "board failed: 'Kernel panic - not syncing'" in a.steps[2].reason


def test_group_a_panicking_board_leaves_and_the_others_fail_fast(tmp_path):
    text = """
devices:
  - {name: srv, role: server}
  - {name: c1, role: client}
timeouts: {call: 120, step: 120}
roles:
  server:
    steps:
      - lava-wait-all ready client
  client:
    steps:
      # split quotes: the echo of the typed line does not look like a panic
      - |
        printf '%s\\n' "Kernel panic"" - not syncing: Attempted to kill init!"; lava-wait never-sent
      - lava-send ready
"""
    started = time.monotonic()
    result = run(tmp_path, text)
    assert time.monotonic() - started < 30, "waited for a timeout instead of failing fast"
    c1 = device(result, "c1")
    assert c1.result == "fail" and "Kernel panic - not syncing" in c1.reason
    # the board is gone: no further step is typed (it is reported, as not run)
    assert [s.result for s in c1.steps] == ["fail", "skip"]
    srv = device(result, "srv")
    assert srv.result == "fail" and "c1" in srv.calls[0]["reason"] and "panic" in srv.calls[0]["reason"]


def test_group_console_input_that_was_not_acted_on_is_reported_per_device(tmp_path):
    """A marker with a bad checksum is counted, and the run says so, not only results.json."""
    from serialsync.job import Reporter

    class Events(Reporter):
        def __init__(self):
            self.seen = []

        def device_event(self, device, text):
            self.seen.append((device.name, text))

    text = """
devices:
  - {name: a, role: solo, connection: "simulated:dash"}
timeouts: {step: 60}
roles:
  solo:
    steps:
      - printf '%s\\n' "<SERIALSYNC1 ab.1 SYNC go 00000000>"
"""
    events = Events()
    result = run_job(parse_job(text, source="t.yaml"), tmp_path / "out", reporter=events)
    a = device(result, "a")
    assert a.dropped and sum(a.dropped.values()) >= 1
    reported = [t for name, t in events.seen if name == "a" and t.startswith("console input not acted on:")]
    assert len(reported) == 1 and all(what in reported[0] for what in a.dropped)
