"""Job files: a valid one loads; every bad one names file, line and field."""

from __future__ import annotations

import textwrap

import pytest

from serialsync.errors import JobConfigError
from serialsync.job import load_job, parse_job

GOOD = """\
name: pair
timeouts:
  job: {minutes: 2}
  step: 30
  call: 10
devices:
  - {name: dev1, role: server}
  - {name: dev2, role: client, connection: "simulated:dash", character_delay: 5}
roles:
  server:
    steps:
      - lava-send hello k=v
  client:
    steps:
      - lava-wait hello
      - |
        for i in 1 2; do
          lava-sync "round-$i"
        done
"""


def test_job_load_valid_file(tmp_path):
    path = tmp_path / "pair.yaml"
    path.write_text(GOOD)
    job = load_job(path)
    assert job.name == "pair"
    assert job.timeouts.job == 120.0 and job.timeouts.step == 30.0 and job.timeouts.call == 10.0
    assert [(d.name, d.role, d.connection) for d in job.devices] == [
        ("dev1", "server", "simulated"),
        ("dev2", "client", "simulated:dash"),
    ]
    assert job.devices[1].character_delay == 0.005
    client = next(d for d in job.devices if d.role == "client")
    assert job.steps_of(client)[1].startswith("for i in 1 2; do")


@pytest.mark.parametrize(
    ("change", "line", "field", "words"),
    [
        (("role: client, connection", "rol: client, connection"), 8, "devices[1].rol", "unknown field"),
        (("name: dev2", "name: dev1"), 8, "devices[1].name", "used twice"),
        (("name: dev2", "name: 'dev 2'"), 8, "devices[1].name", "expected a name"),
        (("step: 30", "step: -3"), 4, "timeouts.step", "positive number"),
        (("simulated:dash", "simulated:zsh"), 8, "devices[1].connection", "unknown shell"),
        (("simulated:dash", "telnet://x"), 8, "devices[1].connection", "bad connection"),
        (("character_delay: 5}", "character_delay: 5, kmsg: true}"), 8, "devices[1].kmsg", "only for a real console"),
        (("      - lava-wait hello", "      - lava-wait: hello"), 15, "roles.client.steps[0]", "non-empty string"),
        (("  server:\n    steps:\n      - lava-send hello k=v\n", ""), 7, "devices[0].role", "no entry under 'roles'"),
    ],
)
def test_job_load_errors_name_file_line_and_field(tmp_path, change, line, field, words):
    old, new = change
    assert old in GOOD
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(JobConfigError) as info:
        load_job(path)
    err = info.value
    assert (err.file, err.line, err.field) == (str(path), line, field), str(err)
    assert words in str(err)
    assert str(err).startswith(f"{path}:{line}: {field}: ")


def test_job_load_reports_every_problem_at_once():
    text = textwrap.dedent(
        """\
        devices:
          - {name: a, role: server, colour: red}
          - {role: client}
        roles:
          server: {steps: [true]}
        """
    )
    with pytest.raises(JobConfigError) as info:
        parse_job(text, source="multi.yaml")
    message = str(info.value)
    assert "problems" in message
    assert "multi.yaml:2: devices[0].colour: unknown field" in message
    assert "multi.yaml:3: devices[1].name: missing" in message
    assert "multi.yaml:5: roles.server.steps[0]: expected a non-empty string" in message


def test_job_load_yaml_syntax_error_names_the_line():
    with pytest.raises(JobConfigError) as info:
        parse_job("devices:\n  - {name: a\nroles: {}\n", source="broken.yaml")
    assert info.value.file == "broken.yaml" and info.value.line == 3


def test_job_load_failure_patterns_are_checked_regular_expressions():
    text = GOOD + "failure_patterns:\n  - 'Kernel panic'\n  - 'bad[('\n"
    with pytest.raises(JobConfigError) as info:
        parse_job(text, source="f.yaml")
    assert info.value.field == "failure_patterns[1]" and info.value.line == 22
    assert "not a regular expression" in str(info.value)
    job = parse_job(GOOD + "failure_patterns: []\n", source="f.yaml")
    assert job.failure_patterns == ()
    assert "Kernel panic - not syncing" in parse_job(GOOD, source="f.yaml").failure_patterns


def test_job_load_unknown_key_suggests_the_key_meant():
    with pytest.raises(JobConfigError) as info:
        parse_job(GOOD.replace("character_delay: 5", "charcter_delay: 5"), source="typo.yaml")
    message = str(info.value)
    assert message.startswith("typo.yaml:8: devices[1].charcter_delay: unknown field (allowed: ")
    assert message.endswith(" (did you mean 'character_delay'?)")
    with pytest.raises(JobConfigError) as info:
        parse_job(GOOD.replace("devices[1]", "").replace("  job: {minutes: 2}", "  jobb: 1"), source="t.yaml")
    assert str(info.value).endswith("(did you mean 'job'?)")
    with pytest.raises(JobConfigError) as info:
        parse_job(GOOD.replace("colour", "") + "colour: red\n", source="c.yaml")
    assert "did you mean" not in str(info.value)  # nothing close: no guess


def test_job_load_a_misspelt_required_key_is_one_problem():
    with pytest.raises(JobConfigError) as info:
        parse_job(GOOD.replace("roles:", "role:"), source="typo.yaml")
    message = str(info.value)
    assert "problems" not in message, message
    assert message.startswith("typo.yaml:9: role: unknown field (allowed: ")
    assert message.endswith(" (did you mean 'roles'?)")


@pytest.mark.parametrize(
    ("written", "seconds"),
    [(None, 30.0), ("45", 45.0), ("{minutes: 2}", 120.0), ("{seconds: 1.5}", 1.5), ("0", 0.0)],
)
def test_job_load_timeouts_connect_in_the_usual_forms(written, seconds):
    text = GOOD if written is None else GOOD.replace("  call: 10\n", f"  call: 10\n  connect: {written}\n")
    assert parse_job(text, source="c.yaml").timeouts.connect == seconds


def test_job_load_timeouts_connect_must_be_seconds():
    with pytest.raises(JobConfigError) as info:
        parse_job(GOOD.replace("  call: 10\n", "  call: 10\n  connect: -1\n"), source="c.yaml")
    assert str(info.value) == (
        "c.yaml:6: timeouts.connect: expected a number of seconds >= 0 (0: no retry), or {seconds|minutes|hours: N}"
    )
