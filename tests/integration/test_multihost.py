"""One group across two host processes, sharing its state through a real redis-server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.slow

JOB = """
name: split
timeouts: {step: 60, call: 30}
devices:
  - {name: srv, role: server}
  - {name: c1, role: client}
  - {name: c2, role: client}
roles:
  server:
    steps:
      - lava-send hello "from=$(lava-self) across hosts"
      - lava-wait-all ready client
      - for i in 1 2 3; do lava-sync round || exit 1; done
  client:
    steps:
      - lava-wait hello && grep -qxF 'srv:from=srv across hosts' "$LAVA_MULTI_NODE_CACHE"
      - lava-send ready "who=$(lava-self)"
      - for i in 1 2 3; do lava-sync round || exit 1; done
"""


def host(tmp_path, job, url, group, devices, out, *extra):
    argv = [sys.executable, "-m", "serialsync.cli", "run", str(job), "-q", "-o", str(tmp_path / out), *extra]
    argv += ["--coordinator", url, "--group", group, "--devices", devices]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_multihost_one_group_over_two_host_processes(tmp_path, redis_url):
    job = tmp_path / "split.yaml"
    job.write_text(JOB)
    group = f"t{uuid.uuid4().hex[:10]}"
    first = host(tmp_path, job, redis_url, group, "srv", "host1")
    second = host(tmp_path, job, redis_url, group, "c1,c2", "host2")
    out1, _ = first.communicate(timeout=120)
    out2, _ = second.communicate(timeout=120)
    assert first.returncode == 0, out1.decode()
    assert second.returncode == 0, out2.decode()
    host1 = json.loads((tmp_path / "host1" / "results.json").read_text())
    host2 = json.loads((tmp_path / "host2" / "results.json").read_text())
    assert [d["name"] for d in host1["devices"]] == ["srv"]
    assert [d["name"] for d in host2["devices"]] == ["c1", "c2"]
    syncs = [c for d in host1["devices"] + host2["devices"] for c in d["calls"] if c["api"] == "lava-sync"]
    assert len(syncs) == 9 and all(c["ok"] for c in syncs)
    listed = subprocess.run(
        [sys.executable, "-m", "serialsync.cli", "groups", "list", redis_url], capture_output=True, text=True
    )
    assert group in listed.stdout.split()
    subprocess.run([sys.executable, "-m", "serialsync.cli", "groups", "clear", redis_url, group], check=True)
    listed = subprocess.run(
        [sys.executable, "-m", "serialsync.cli", "groups", "list", redis_url], capture_output=True, text=True
    )
    assert group not in listed.stdout.split()


END_GROUP_JOB = """
name: split-end
on_failure: end-group
timeouts: {step: 90, call: 90}
devices:
  - {name: srv, role: server}
  - {name: c1, role: client}
  - {name: c2, role: worker}
roles:
  server:
    steps:
      - lava-sync started
      - lava-wait from-c2    # c2 could still send it: only the group's end stops this
  client:
    steps:
      - lava-sync started
      - (exit 3)
  worker:
    steps:
      # after the sync it makes no call: its host notices the group's end and interrupts it
      - lava-sync started; sleep 80
      - lava-send from-c2
"""


def test_multihost_a_failure_on_one_host_ends_the_group_on_the_other(tmp_path, redis_url):
    job = tmp_path / "split-end.yaml"
    job.write_text(END_GROUP_JOB)
    group = f"t{uuid.uuid4().hex[:10]}"
    started = time.monotonic()
    first = host(tmp_path, job, redis_url, group, "c1", "host1")
    second = host(tmp_path, job, redis_url, group, "srv,c2", "host2")
    out1, _ = first.communicate(timeout=120)
    out2, _ = second.communicate(timeout=120)
    elapsed = time.monotonic() - started
    assert first.returncode == 1 and second.returncode == 1, (out1.decode(), out2.decode())
    assert elapsed < 45, f"took {elapsed:.0f}s: the other host sat out its timeouts"
    host2 = {d["name"]: d for d in json.loads((tmp_path / "host2" / "results.json").read_text())["devices"]}
    for name in ("srv", "c2"):
        assert "group ended: c1 failed" in host2[name]["reason"], host2[name]["reason"]
    assert "stopped" in host2["c2"]["steps"][0]["reason"]
    assert [s["result"] for s in host2["c2"]["steps"]][1:] == ["skip"] * (len(host2["c2"]["steps"]) - 1)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "serialsync.cli", *args], capture_output=True, text=True, timeout=120)


def test_multihost_the_same_job_runs_again_under_the_same_group(tmp_path, redis_url):
    """Every device left when the first run ended: the second run starts the group afresh."""
    job = tmp_path / "split.yaml"
    job.write_text(JOB)
    group = f"t{uuid.uuid4().hex[:10]}"
    for attempt in ("first", "second"):
        out = str(tmp_path / attempt)
        done = run_cli("run", str(job), "-q", "-o", out, "--coordinator", redis_url, "--group", group)
        assert done.returncode == 0, (attempt, done.stdout, done.stderr)


def group_left_behind(redis_url: str, leave) -> str:
    """A group of JOB's devices in Redis, left as `leave(coordinator)` leaves it; its name."""
    from serialsync.coordinator import Member
    from serialsync.coordinator.redis import RedisCoordinator

    group = f"t{uuid.uuid4().hex[:10]}"
    members = [Member("srv", "server"), Member("c1", "client"), Member("c2", "client")]
    with RedisCoordinator(members, redis_url, group=group) as earlier:
        leave(earlier)
    return group


def test_multihost_a_group_whose_earlier_run_did_not_end_is_refused_with_what_to_do(tmp_path, redis_url):
    job = tmp_path / "split.yaml"
    job.write_text(JOB)
    # srv and c2 never ended: that run is not over
    group = group_left_behind(redis_url, lambda earlier: earlier.leave("c1", "finished its steps"))
    done = run_cli("run", str(job), "-q", "-o", str(tmp_path / "out"), "--coordinator", redis_url, "--group", group)
    assert done.returncode == 1
    assert "c1 (finished its steps) as gone" in done.stderr and "groups clear" in done.stderr


def test_multihost_a_bad_coordinator_url_is_a_usage_error(tmp_path):
    job = tmp_path / "split.yaml"
    job.write_text(JOB)
    done = run_cli("run", str(job), "-q", "--coordinator", "http://redis.lab:6379/0")
    assert done.returncode == 2 and "redis url must look like" in done.stderr and "Traceback" not in done.stderr
    listed = run_cli("groups", "list", "http://redis.lab:6379/0")
    assert listed.returncode == 2 and "Traceback" not in listed.stderr


def test_multihost_a_host_joining_a_run_another_host_just_ended_is_not_given_a_fresh_group(tmp_path, redis_url):
    """srv failed on host A and ended the group before host B started: B must hear it, not wait in a new group."""
    job = tmp_path / "split.yaml"
    job.write_text(JOB)
    group = group_left_behind(redis_url, lambda host_a: host_a.end_group("srv", "kernel panic"))
    out = str(tmp_path / "host-b")
    done = run_cli("run", str(job), "-q", "-o", out, "--coordinator", redis_url, "--group", group, "--devices", "c1,c2")
    assert done.returncode == 1
    assert "group ended: srv failed: kernel panic" in done.stderr and "ended on another host" in done.stderr


STUCK_JOB = """
name: split-stuck
timeouts: {step: 60, call: 8}
devices:
  - {name: srv, role: server}
  - {name: cli, role: client}
roles:
  server:
    steps:
      - lava-sync left
  client:
    steps:
      - lava-sync right
"""


def test_multihost_a_stuck_group_is_named_on_every_host(tmp_path, redis_url):
    """Two hosts' devices wait at two different syncs: each host's run says who waits for what, at once."""
    job = tmp_path / "stuck.yaml"
    job.write_text(STUCK_JOB)
    group = f"t{uuid.uuid4().hex[:10]}"
    # --force: the plan sees the job can never complete; the run must say so while it waits.
    first = host(tmp_path, job, redis_url, group, "srv", "host1", "--force")
    second = host(tmp_path, job, redis_url, group, "cli", "host2", "--force")
    said = [first.communicate(timeout=120)[0], second.communicate(timeout=120)[0]]
    for out in ("host1", "host2"):
        assert (tmp_path / out / "results.json").is_file(), said
        events = json.loads((tmp_path / out / "results.json").read_text())["group_events"]
        stuck = [e for e in events if "stuck" in e["text"]]
        assert stuck, (out, events)
        text = stuck[0]["text"]
        assert "srv" in text and "left" in text and "cli" in text and "right" in text, text
        assert stuck[0]["start"] < 8, stuck  # reported at once, not when the calls timed out
