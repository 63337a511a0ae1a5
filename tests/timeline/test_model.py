"""The data behind the timeline (lanes, bars, rounds, links, marks) from recorded runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from serialsync.timeline import TimelineError, from_lava_logs, from_run
from serialsync.timeline.model import Timeline, console_around
from serialsync.timeline.render import ticks

from .synthetic import synthetic_run

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "timeline"
RECORDED = ROOT / "fixtures" / "recorded"


def lane(timeline: Timeline, name: str):
    return next(item for item in timeline.lanes if item.name == name)


def calls(timeline: Timeline, name: str, label: str):
    return [b for b in lane(timeline, name).bars if b.kind != "step" and b.label == label]


def mark(timeline: Timeline, kind: str, name: str | None = None):
    found = [m for m in timeline.marks if m.kind == kind and (name is None or m.label.startswith(name + " "))]
    assert len(found) == 1, found
    return found[0]


# --- runs of serialsync ---------------------------------------------------------------------
def test_timeline_lanes_of_a_run_carry_name_role_result():
    timeline = from_run(FIXTURES / "sim-failures")
    assert [(x.name, x.role, x.result) for x in timeline.lanes] == [
        ("server1", "server", "fail"),
        ("client1", "client", "fail"),
        ("client2", "client", "pass"),
        ("client3", "client", "fail"),
    ]
    assert timeline.title == "sim-failures" and timeline.result == "fail" and not timeline.approximate
    for item in timeline.lanes:
        for bar in item.bars:
            assert item.start - 0.01 <= bar.start <= bar.end <= timeline.duration + 0.01, bar


def test_timeline_steps_are_bars_with_their_result():
    timeline = from_run(FIXTURES / "sim-failures")
    steps = [(b.label, b.outcome) for b in lane(timeline, "client3").bars if b.kind == "step"]
    # The steps after the panic never ran: no bar (the device's reason says why).
    assert [outcome for _, outcome in steps] == ["pass", "pass", "fail"]
    assert steps[0][0] == "lava-wait server-up"  # named as in results.xml


def test_timeline_nacked_call_and_timed_out_call():
    timeline = from_run(FIXTURES / "sim-failures")
    (nacked,) = calls(timeline, "server1", "lava-wait-all client-ready nosuchrole")
    assert nacked.outcome == "nack" and "nosuchrole" in nacked.reason
    (late,) = calls(timeline, "client1", "lava-wait late")
    assert late.outcome == "timeout" and "timed out" in late.reason
    assert late.end - late.start == pytest.approx(3.0, abs=0.2)  # the job's call timeout
    # The console lines around the moment it ended are kept for its details.
    assert any("WAIT late" in line for line in late.console)
    assert any("this moment" in line for line in late.console)


def test_timeline_member_that_died_and_the_calls_it_failed():
    timeline = from_run(FIXTURES / "sim-failures")
    died = mark(timeline, "failed", "client3")
    assert "Kernel panic" in died.label
    (wait_all,) = calls(timeline, "server1", "lava-wait-all client-ready client")
    assert wait_all.outcome == "nack" and wait_all.id in died.caused
    # client1's timeout names client2, which was alive: it did not fail because of anyone's departure.
    assert not mark(timeline, "left", "client2").caused
    assert mark(timeline, "left", "client2").lane == 2


def test_timeline_reused_sync_id_makes_one_round_per_pass():
    timeline = from_run(FIXTURES / "sim-failures")
    rounds = [r for r in timeline.rounds if r.message_id == "round"]
    assert [r.number for r in rounds] == [1, 2, 3]
    assert all(r.ok and r.lanes == [0, 1, 2, 3] and len(r.calls) == 4 for r in rounds)
    assert rounds[0].at < rounds[1].at < rounds[2].at
    for item in rounds:  # each round's calls are each device's n-th sync 'round'
        for call_id in item.calls:
            bar = timeline.bar(call_id)
            assert bar.start - 0.002 <= item.at <= bar.end + 0.002


def test_timeline_links_each_wait_to_the_send_that_released_it():
    timeline = from_run(FIXTURES / "sim-failures")
    (send,) = calls(timeline, "server1", "lava-send server-up")
    released = sorted(timeline.bar(link.target).lane for link in timeline.links if link.source == send.id)
    assert released == [1, 2, 3]
    # The data it sent, read back from the markers in the console log.
    assert ("data sent", "ip='10.0.0.1' motd='hello > all'") in send.details
    # A test case the board reported is a mark on its lane.
    case = mark(timeline, "testcase")
    assert case.label == "served" and case.outcome == "pass" and case.lane == 0


def test_timeline_stuck_group_report_is_a_mark():
    timeline = from_run(FIXTURES / "sim-stuck")
    stuck = mark(timeline, "stuck")
    assert stuck.lane == -1 and stuck.at < 1.0
    assert "srv waits in lava-sync 'ready'" in dict(stuck.details)["report"]
    assert {(r.message_id, r.ok, tuple(r.lanes)) for r in timeline.rounds} == {
        ("ready", False, (0,)),
        ("redy", False, (1,)),
    }
    # srv's sync was answered nack because cli left the group.
    (srv_sync,) = calls(timeline, "srv", "lava-sync ready")
    assert srv_sync.id in mark(timeline, "failed", "cli").caused


def test_timeline_protocol_requests_made_by_the_host():
    timeline = from_run(FIXTURES / "lava-requests")
    requests = sorted((b.lane, b.label) for b in timeline.bars if b.kind == "request")
    assert requests == [(0, "lava-send server-ready"), (1, "lava-wait server-ready"), (2, "lava-wait server-ready")]
    sources = {
        timeline.bar(link.source).label for link in timeline.links if timeline.bar(link.target).kind == "request"
    }
    assert sources == {"lava-send server-ready"}
    wait_all = calls(timeline, "server1", "lava-wait-all client-done client")[0]
    into = [link for link in timeline.links if link.target == wait_all.id]
    assert sorted(timeline.bar(link.source).lane for link in into) == [1, 2]
    assert sum(link.last for link in into) == 1  # the send it waited for last


def test_timeline_recorded_runs_without_times_are_laid_out_by_durations():
    for name in ("simulated", "qemu"):
        if not (RECORDED / name / "results.json").is_file():
            continue
        timeline = from_run(RECORDED / name)
        assert timeline.approximate and any("no times" in note for note in timeline.notes)
        assert [x.name for x in timeline.lanes] == ["server1", "client1", "client2"]
        rounds = [r for r in timeline.rounds if r.message_id == "round"]
        assert [r.number for r in rounds] == [1, 2, 3] and all(r.lanes == [0, 1, 2] for r in rounds)
        targets = {timeline.bar(link.target).label for link in timeline.links}
        assert {"lava-wait server-up", "lava-wait-all client-ready client", "lava-wait-all all-up"} <= targets
        for item in timeline.lanes:  # each call inside a step of its lane
            steps = [b for b in item.bars if b.kind == "step"]
            for bar in (b for b in item.bars if b.kind != "step"):
                assert any(s.start - 1e-9 <= bar.start <= bar.end <= s.end + 1e-9 for s in steps), bar


# --- LAVA job logs ----------------------------------------------------------------------------
def lava_group() -> Timeline:
    return from_lava_logs(sorted((FIXTURES / "lava-group").glob("*.yaml")))


def test_timeline_lava_logs_one_lane_per_sub_job():
    timeline = lava_group()
    assert [(x.name, x.role, x.result) for x in timeline.lanes] == [
        ("client01", "client", "fail"),
        ("client02", "client", "fail"),
        ("server01", "server", "fail"),
    ]
    assert timeline.started_at == "2026-11-20T10:00:00.000+00:00"
    actions = [(b.label, b.outcome) for b in lane(timeline, "client01").bars if b.kind == "step"]
    assert actions == [("deploy-device-env", "pass"), ("boot-qemu-image", "pass"), ("lava-test-shell", "fail")]


def test_timeline_lava_calls_from_markers_and_replies():
    timeline = lava_group()
    (wait,) = calls(timeline, "client01", "lava-wait server-up")
    assert (wait.start, wait.end, wait.outcome) == (pytest.approx(6.85), pytest.approx(7.3), "ok")
    (nacked,) = calls(timeline, "server01", "lava-wait-all client-ready nosuchrole")
    assert nacked.outcome == "nack" and nacked.end - nacked.start == pytest.approx(0.15)
    (late,) = calls(timeline, "client01", "lava-wait late")  # never answered: the log ends
    assert late.outcome == "timeout" and late.end == pytest.approx(40.2) and "no reply" in late.reason
    (send,) = calls(timeline, "server01", "lava-send server-up")
    assert ("data sent", "ipaddr='10.0.0.1'") in send.details
    assert [timeline.bar(link.target).label for link in timeline.links if link.source == send.id] == [
        "lava-wait server-up",
        "lava-wait server-up",
    ]


def test_timeline_lava_reused_sync_id_rounds_and_the_sub_job_that_died():
    timeline = lava_group()
    rounds = [(r.number, r.lanes, r.ok, round(r.at, 2)) for r in timeline.rounds]
    assert rounds == [(1, [0, 1, 2], True, 10.6), (2, [0, 1, 2], True, 11.5), (3, [0, 1, 2], True, 12.4)]
    died = mark(timeline, "failed", "client02")
    assert "Kernel panic" in died.label
    (wait_all,) = calls(timeline, "server01", "lava-wait-all client-ready client")
    assert wait_all.outcome == "nack" and died.caused == [wait_all.id]
    cases = sorted((m.label, m.outcome) for m in timeline.marks if m.kind == "testcase")
    assert cases == [("clients-ready", "fail"), ("unknown-role", "pass")]


def test_timeline_lava_log_of_one_sub_job():
    # The existing fixture: markers, no replies at all (its calls end with the log), an unknown op.
    timeline = from_lava_logs([ROOT / "fixtures" / "lava-job-log-server.yaml"])
    labels = [(b.label, b.outcome) for b in timeline.bars if b.kind != "step"]
    assert labels[0] == ("lava-send server-up", "ok")
    assert [x for x, _ in labels[1:]] == [
        "lava-wait client-ready",
        "lava-wait-all client-ready client",
        "lava-sync done",
        "lava-wait-all client-ready nosuchrole",
    ]
    assert {o for _, o in labels[1:]} == {"timeout"}
    assert timeline.lanes[0].role == "server" and timeline.lanes[0].result == "incomplete"


def test_timeline_bad_input_is_a_timeline_error(tmp_path):
    with pytest.raises(TimelineError, match=r"no results\.json"):
        from_run(tmp_path)
    (tmp_path / "results.json").write_text("[1, 2]")
    with pytest.raises(TimelineError, match=r"not the results\.json"):
        from_run(tmp_path)
    raw = tmp_path / "console.log"
    raw.write_text("just a console\n<LAVA_MULTI_NODE> <LAVA_SYNC x>\n")
    with pytest.raises(TimelineError, match="not a LAVA job log"):
        from_lava_logs([raw])
    broken = tmp_path / "broken.yaml"
    broken.write_text('- {"dt": "2026-01-01T00:00:00", "lvl": "target", "msg": "a"}\n- {"dt": "x", "lvl": "info"}\n')
    with pytest.raises(TimelineError, match=r"broken\.yaml:2"):
        from_lava_logs([broken])


# --- pieces -----------------------------------------------------------------------------------
def test_timeline_console_around_keeps_lines_before_and_after_each_moment():
    lines = [(float(i), f"line {i}") for i in range(20)]
    before, end = console_around(iter(lines), [10.5, 100.0])
    assert [x.split("] ")[-1] for x in before] == ["line 6", "line 7", "line 8", "line 9", "line 10",
                                                    "── ▲ this moment ──", "line 11", "line 12"]  # fmt: skip
    assert end[-2].endswith("line 19")


def test_timeline_axis_ticks_adapt_from_seconds_to_hours():
    assert [t for t, _ in ticks(0, 2.0)][:3] == [0.0, 0.2, 0.4]
    assert ticks(0, 2.0)[1][1] == "0.2 s"
    assert ticks(0, 45)[1][1] == "5 s"
    assert [text for _, text in ticks(0, 600)][:3] == ["0:00", "1:00", "2:00"]
    assert [text for _, text in ticks(0, 4 * 3600)][:2] == ["0:00:00", "0:30:00"]
    assert len(ticks(0, 4 * 3600)) <= 12


def test_timeline_synthetic_group_rounds_and_links(tmp_path):
    timeline = from_run(synthetic_run(tmp_path / "run", devices=8, calls=80))
    assert len(timeline.lanes) == 8 and len(timeline.calls()) == 80
    assert [r.number for r in timeline.rounds] == list(range(1, 9))  # 'tick' reused in every round
    # Each wait-all is released by all 7 clients; the second misses the last client's failed send.
    assert len(timeline.links) == 7 + 6
