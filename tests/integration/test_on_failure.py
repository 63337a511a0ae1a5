"""What one device's failure does to the rest of its group: on_failure and essential roles."""

from __future__ import annotations

import time

import pytest

from serialsync.errors import JobConfigError
from serialsync.job import parse_job, run_job

pytestmark = pytest.mark.slow

# Timeouts far above what a fail-fast run takes: finishing well under them
# shows that nobody sat out a timeout.
SLOW = "timeouts: {call: 90, step: 90}"


def run(tmp_path, text):
    started = time.monotonic()
    result = run_job(parse_job(text, source="job.yaml"), tmp_path / "out")
    return result, time.monotonic() - started


def device(result, name):
    return next(d for d in result.devices if d.name == name)


def test_end_group_stops_every_device_even_those_that_do_not_depend_on_the_failed_one(tmp_path):
    text = f"""
on_failure: end-group
devices:
  - {{name: srv, role: server}}
  - {{name: c1, role: client}}
  - {{name: c2, role: worker}}
{SLOW}
roles:
  server:
    steps:
      - lava-sync started; lava-wait from-c2   # c2 could still send it: only the group's end stops this
  client:
    steps:
      - lava-sync started; (exit 3)
      - echo never typed
  worker:
    steps:
      - lava-sync started; sleep 80            # then no call at all: the host interrupts it
      - lava-send from-c2
"""
    result, elapsed = run(tmp_path, text)
    assert elapsed < 40, f"took {elapsed:.0f}s: the group was not ended at once"
    c1, srv, c2 = device(result, "c1"), device(result, "srv"), device(result, "c2")
    assert c1.result == "fail" and "exit status 3" in c1.reason
    assert [s.result for s in c1.steps] == ["fail", "skip"]  # the echo was never typed
    assert srv.result == "fail" and "group ended: c1 failed" in srv.reason and "exit status 3" in srv.reason
    assert c2.result == "fail" and "group ended: c1 failed" in c2.reason
    assert "stopped" in c2.steps[0].reason  # the sleep was interrupted, nothing after it
    assert [s.result for s in c2.steps] == ["fail", "skip"]


def test_continue_keeps_serving_the_clients_that_do_not_need_the_failed_one(tmp_path):
    text = f"""
devices:
  - {{name: srv, role: server}}
  - {{name: c1, role: client}}
  - {{name: c2, role: client}}
{SLOW}
roles:
  server:
    steps:
      - lava-wait hello
      - lava-send served
  client:
    steps:
      - |
        if [ "$(lava-self)" = c1 ]; then false; else lava-send hello; fi
      - |
        if [ "$(lava-self)" = c2 ]; then lava-wait served; fi
"""
    result, _ = run(tmp_path, text)
    assert device(result, "c1").result == "fail"
    assert device(result, "srv").result == "pass", device(result, "srv").reason
    assert device(result, "c2").result == "pass", device(result, "c2").reason


def test_a_failed_device_of_an_essential_role_ends_the_group(tmp_path):
    text = f"""
devices:
  - {{name: srv, role: server}}
  - {{name: c1, role: client}}
  - {{name: c2, role: client}}
{SLOW}
roles:
  server:
    essential: true
    steps:
      - lava-sync started; (exit 5)
  client:
    steps:
      - |
        lava-sync started
        if [ "$(lava-self)" = c1 ]; then lava-wait from-c2; else sleep 80; fi
"""
    result, elapsed = run(tmp_path, text)
    assert elapsed < 40, f"took {elapsed:.0f}s: the group was not ended at once"
    for name in ("c1", "c2"):
        assert "group ended: srv failed" in device(result, name).reason, device(result, name).reason
    assert "exit status 5" in device(result, "srv").reason


def test_bad_on_failure_and_essential_values_are_reported_with_their_lines():
    text = """on_failure: stop-everything
devices:
  - {name: srv, role: server}
roles:
  server:
    essential: yes please
    steps: [true]
"""
    with pytest.raises(JobConfigError) as info:
        parse_job(text, source="bad.yaml")
    message = str(info.value)
    assert "bad.yaml:1: on_failure: expected continue or end-group" in message
    assert "bad.yaml:6: roles.server.essential: expected true or false" in message


def test_a_board_that_never_answers_leaves_with_why_and_the_others_hear_it(tmp_path):
    text = """
timeouts: {boot: 2, call: 90, step: 90}
devices:
  - {name: srv, role: server}
  - {name: c1, role: client, connection: "cmd:sleep 60"}
roles:
  server:
    steps:
      - lava-wait-all ready client
  client:
    steps:
      - lava-send ready
"""
    result, elapsed = run(tmp_path, text)
    assert elapsed < 40, f"took {elapsed:.0f}s"
    c1, srv = device(result, "c1"), device(result, "srv")
    assert c1.result == "fail" and "did not answer within timeouts.boot (2 s)" in c1.reason
    (call,) = srv.calls
    assert "c1 left the group (the board's shell did not answer" in call["reason"], call["reason"]
