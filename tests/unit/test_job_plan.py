"""`serialsync check`: the sync plan per role, and calls that can never complete, with their lines."""

from __future__ import annotations

from serialsync.cli import main
from serialsync.job import parse_job
from serialsync.job.plan import sync_plan

JOB = """devices:
  - {name: srv, role: server}
  - {name: c1, role: client}
  - {name: c2, role: client}
roles:
  server:
    steps:
      - lava-send server-up ip=10.0.0.1
      - lava-wait-all client-ready client
      - lava-wait never-sent
      - lava-sync only-server
  client:
    steps:
      - lava-wait server-up
      - |
        echo preparing
        lava-send "client-done" result=ok
      - for i in 1 2; do lava-wait-all "round-$i"; done
"""


def test_plan_flags_calls_that_can_never_complete_with_their_lines():
    plan = sync_plan(parse_job(JOB, source="plan.yaml"))
    found = {(f.line, f.text, f.blocking) for f in plan.findings}
    assert found == {
        (9, "lava-wait-all client-ready client (role server): role client never sends it", True),
        (10, "lava-wait never-sent (role server): no device sends it", True),
        (11, "lava-sync only-server (role server): role client never reaches it", True),
        (18, "lava-wait-all round-$i (role client): its ID is only known at run time: not checked", False),
    }
    assert [(c.api, c.message_id, c.line) for c in plan.calls["client"]] == [
        ("lava-wait", "server-up", 14),
        ("lava-send", "client-done", 17),
        ("lava-wait-all", "round-$i", 18),
    ]


def test_plan_holds_back_where_an_id_is_built_at_run_time():
    # The client syncs on IDs built at run time: "only-server" may be one of them.
    job = parse_job(JOB.replace('lava-wait-all "round-$i"', 'lava-sync "round-$i"'), source="plan.yaml")
    texts = [f.text for f in sync_plan(job).findings]
    assert not any("only-server" in t for t in texts)
    assert any("never-sent" in t for t in texts)


def test_check_command_prints_the_plan_and_fails_on_problems(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(JOB)
    assert main(["check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "role server (srv):" in out and "role client (c1, c2):" in out
    assert f"{bad}:10: lava-wait never-sent (role server): no device sends it" in out
    good = tmp_path / "good.yaml"
    good.write_text(
        JOB.replace("      - lava-wait never-sent\n", "")
        .replace("      - lava-sync only-server\n", "")
        .replace('lava-send "client-done" result=ok', "lava-send client-ready result=ok")
    )
    assert main(["check", str(good)]) == 0


def test_plan_flags_a_value_sent_before_any_wait_received_it():
    text = """job_name: vars
protocols:
  lava-multinode:
    roles:
      a: {count: 1}
      b: {count: 1}
actions:
- test:
    role: [a]
    protocols:
      lava-multinode:
      - {request: lava-send, messageID: early, message: {ip: $ip}}
      - {request: lava-wait, messageID: addr, message: {ip: $ip}}
      - {request: lava-send, messageID: late, message: {ip: $ip}}
    steps: ["true"]
- test:
    role: [b]
    protocols:
      lava-multinode:
      - {request: lava-send, messageID: addr, message: {ip: 10.0.0.1}}
      - {request: lava-wait-all, messageID: late, role: a}
      - {request: lava-wait, messageID: early}
    steps: ["true"]
"""
    problems = [(f.line, f.text) for f in sync_plan(parse_job(text, source="v.yaml")).problems]
    assert problems == [(12, "lava-send early (role a): $ip is not received by an earlier wait")]


SENDS_UNHEARD = """devices:
  - {name: srv, role: server}
  - {name: c1, role: client}
roles:
  server:
    steps:
      - lava-send server-up ip=10.0.0.1
      - lava-sync done
  client:
    steps:
      - lava-send client-up
      - lava-wait server-up
      - lava-sync done
"""


def test_plan_notes_a_send_nobody_waits_for_without_calling_it_a_problem():
    plan = sync_plan(parse_job(SENDS_UNHEARD, source="plan.yaml"))
    assert [(f.line, f.text, f.blocking) for f in plan.findings] == [
        (11, "lava-send client-up (role client): nobody waits for it", False)
    ]
    assert plan.problems == []


def test_plan_notes_lava_timeouts_it_accepts_but_does_not_use():
    text = """
job_name: t
timeouts:
  job: {minutes: 5}
  actions:
    lava-test-shell: {minutes: 3}
  connection: {minutes: 2}
protocols:
  lava-multinode:
    roles:
      a: {count: 1}
actions:
- test:
    role: [a]
    steps: ["true"]
"""
    plan = sync_plan(parse_job(text, source="lava.yaml"))
    notes = {(f.line, f.blocking) for f in plan.findings if "is not used" in f.text}
    assert notes == {(6, False), (7, False)}


def test_run_prints_the_plan_findings_before_any_board_is_touched(tmp_path, capsys):
    job = tmp_path / "job.yaml"
    job.write_text(SENDS_UNHEARD)
    assert main(["run", str(job), "-q", "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert f"serialsync: note: {job}:11: lava-send client-up (role client): nobody waits for it" in err


# Helper names that are not calls: quoted, in comments, here-documents, arguments of other commands.
NOT_CALLS = """devices:
  - {name: srv, role: server}
  - {name: c1, role: client}
roles:
  server:
    steps:
      - echo "lava-wait-all returned"
      - |
        # lava-sync only-in-a-comment
        printf '%s\\n' 'lava-wait never-sent' lava-send never-heard
        echo lava-sync nowhere; echo done # lava-wait not-this
        cat <<EOF
        lava-sync in-a-heredoc
        EOF
        if lava-wait client-up; then timeout -s KILL 30 lava-sync both; fi
        answer=$(lava-wait-all "client-up" client) || exit 1
        for i in 1 2 3; do lava-sync "round-$i" || exit 1; done
  client:
    steps:
      - lava-send client-up 2>&1 >/dev/null && ! lava-sync both
      - |
        for i in 1 2 3; do
          lava-sync "round-$i" || exit 1
        done
"""


def test_plan_takes_only_helpers_in_command_position_as_calls(tmp_path, capsys):
    plan = sync_plan(parse_job(NOT_CALLS, source="plan.yaml"))
    assert [(c.api, c.message_id, c.wait_role, c.line) for c in plan.calls["server"]] == [
        ("lava-wait", "client-up", None, 15),
        ("lava-sync", "both", None, 15),
        ("lava-wait-all", "client-up", "client", 16),
        ("lava-sync", "round-$i", None, 17),
    ]
    assert [(c.api, c.message_id, c.line) for c in plan.calls["client"]] == [
        ("lava-send", "client-up", 20),
        ("lava-sync", "both", 20),
        ("lava-sync", "round-$i", 23),
    ]
    assert plan.problems == []
    path = tmp_path / "echo.yaml"
    path.write_text(NOT_CALLS)
    assert main(["check", str(path)]) == 0
    assert "returned" not in capsys.readouterr().out


def test_check_passes_a_step_that_echoes_a_helper_name(tmp_path):
    path = tmp_path / "echo.yaml"
    path.write_text(
        "devices:\n  - {name: a, role: one}\nroles:\n  one:\n    steps:\n"
        '      - echo "lava-wait-all returned"\n'
        "      - echo lava-wait nobody-sends-this  # lava-sync never\n"
    )
    assert main(["check", str(path)]) == 0
