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
