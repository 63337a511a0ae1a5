"""LAVA jobs as people write them: definitions from git, parameters, LAVA's test helpers and failure semantics."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from serialsync.errors import JobConfigError
from serialsync.job import load_job, parse_job, run_job

pytestmark = pytest.mark.slow

TEST_DEFINITIONS = Path(__file__).resolve().parents[1] / "fixtures" / "test-definitions"
SHELLS = ["busybox", "dash", "bash"]
# Spaces, both quotes, a $( ), a backslash and a glob: a parameter is data, set as it was written.
NASTY = """it's "quoted" $(touch /tmp/never) \\ *"""


def lava_job(repository: Path, shell: str, extra_params: str = "") -> str:
    return f"""
job_name: lava-from-git
timeouts:
  job: {{minutes: 4}}
  action: {{minutes: 2}}
protocols:
  lava-multinode:
    roles:
      server: {{count: 1, connection: "simulated:{shell}?login=root:lava"}}
      client: {{count: 2, connection: "simulated:{shell}"}}
    timeout: {{minutes: 1}}
actions:
- deploy:
    role: [server, client]
    to: tmpfs
    images: {{rootfs: {{url: "https://example.org/rootfs.ext4"}}}}
- boot:
    role: [server]
    auto_login: {{login_prompt: 'login:', username: root, password_prompt: 'Password:', password: lava}}
    prompts: ['board\\$ ']
- boot:
    role: [client]
    prompts: ['board\\$ ']
- test:
    role: [server, client]
    protocols:
      lava-multinode:
      - request: lava-sync
        messageID: booted
    definitions:
    - from: inline
      name: inline-check
      path: inline/inline-check.yaml
      repository:
        metadata: {{format: Lava-Test Test Definition 1.0, name: inline-check}}
        params: {{WHO: nobody}}
        run:
          steps:
          - echo "who=$WHO role=$(lava-role)"
          - lava-test-case inline-ok --result pass
- test:
    role: [server, client]
    definitions:
    - from: git
      repository: {repository}
      path: automated/linux/smoke/smoke.yaml
      name: smoke-tests
      parameters:
        TESTS: "pwd, true"
        GREETING: {json.dumps(NASTY)}{extra_params}
    - from: git
      repository: {repository}
      path: automated/linux/multinode-ping/multinode-ping.yaml
      name: multinode-ping
      history: false
"""


def cases_of(results: dict, device: str) -> dict[str, dict]:
    found = next(d for d in results["devices"] if d["name"] == device)
    return {(f"{c['set']}/" if c.get("set") else "") + c["name"]: c for c in found["test_cases"]}


@pytest.mark.parametrize("shell", SHELLS)
def test_a_lava_job_with_git_definitions_and_parameters_runs_as_written(tmp_path, shell, make_git_repository):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed (CI installs it)")
    repository = make_git_repository(tmp_path / "test-definitions")
    job = parse_job(lava_job(repository, shell), source="lava-from-git.yaml")
    result = run_job(job, tmp_path / "out")
    failed = [(d.name, d.reason, [s.reason for s in d.steps if s.result != "pass"]) for d in result.devices]
    assert result.passed, failed
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    for device in ("server1", "client1", "client2"):
        cases = cases_of(results, device)
        # send-to-lava.sh (from the repository's utils/) turned smoke.sh's results into test cases
        assert cases["pwd"]["result"] == "pass" and cases["true"]["result"] == "pass"
        assert "uname" not in cases  # the job's TESTS overrode the definition's default
        assert cases["inline-ok"]["result"] == "pass"
        assert cases["round-1"]["result"] == "pass"  # the definition's parse pattern, through its fixupdict
        assert cases["round-2"]["source"] == "parse"
        assert cases["build-log"]["reference"] == "https://ci.example.org/build/42"
        steps = {s["name"]: s for s in next(d for d in results["devices"] if d["name"] == device)["steps"]}
        # the parameter arrived byte for byte, never evaluated
        greeting = steps['smoke-tests: echo "greeting=[${GREETING}]"']["output_tail"]
        assert f"greeting=[{NASTY}]" in greeting
        assert "who=nobody" in steps['inline-check: echo "who=$WHO role=$(lava-role)"']["output_tail"]
    assert not Path("/tmp/never").exists()
    server = cases_of(results, "server1")
    assert server["handshake/send-token"]["result"] == "pass"
    assert cases_of(results, "client1")["handshake/got-token"]["result"] == "pass"
    # the files went over the console, checksummed, into the definition's own directory
    log = (tmp_path / "out" / "client1.console.log").read_bytes()
    assert b"_ss_sum" in log and b"/client1/tests/4_1_multinode-ping" in log
    cases = {c.get("name") for c in ET.parse(tmp_path / "out" / "results.xml").getroot().iter("testcase")}
    assert {"round-1", "handshake/send-token", "build-log", "smoke-tests: cd ./automated/linux/smoke/"} <= cases


LAVA_ONE = """
job_name: one
timeouts: {{job: {{minutes: 2}}, action: {{minutes: 1}}}}
protocols:
  lava-multinode:
    roles:
      solo: {{count: 1, connection: "simulated:dash"}}
    timeout: {{seconds: 2}}
actions:
- test:
    role: [solo]
    definitions:
    - from: inline
      name: first
      path: inline/first.yaml
      repository:
        metadata: {{format: Lava-Test Test Definition 1.0, name: first}}
        run:
          steps:
{steps}
    - from: inline
      name: second
      path: inline/second.yaml
      repository:
        metadata: {{format: Lava-Test Test Definition 1.0, name: second}}
        run:
          steps:
          - echo second-ran
"""


def run_one(tmp_path: Path, steps: list[str]):
    text = LAVA_ONE.format(steps="\n".join(f"          - {json.dumps(s)}" for s in steps))
    (device,) = run_job(parse_job(text, source="one.yaml"), tmp_path / "out").devices
    return device


def test_lava_test_raise_ends_the_job_failed_with_its_reason(tmp_path):
    device = run_one(tmp_path, ["echo before", "lava-test-raise 'the rootfs is read-only'", "echo after"])
    assert device.result == "fail" and "lava-test-raise: the rootfs is read-only" in device.reason
    assert [(s.name, s.result) for s in device.steps] == [
        ("first: echo before", "pass"),
        ("first: lava-test-raise 'the rootfs is read-only'", "fail"),
        ("first: echo after", "skip"),
        ("second: echo second-ran", "skip"),  # as in LAVA: the rest of the job does not run
    ]


def test_a_failing_step_ends_its_definition_as_lava_runs_it_with_set_e(tmp_path):
    device = run_one(tmp_path, ["false", "echo after"])
    assert [(s.name, s.result) for s in device.steps] == [
        ("first: false", "fail"),
        ("first: echo after", "skip"),
        ("second: echo second-ran", "pass"),  # the next definition is its own script
    ]


def test_a_nacked_call_of_lavas_own_helper_fails_its_step(tmp_path):
    """LAVA's lava-wait exits 0 on a nack; in LAVA the timed-out call fails the job, and here too."""
    # What LAVA's lava-wait prints, then reads its reply: it exits 0 whatever the reply says.
    lava_wait = "printf '<LAVA_MULTI_NODE> <LAVA_WAIT never-sent>\\n'; read -r reply; echo \"reply=$reply\""
    device = run_one(tmp_path, [lava_wait, "echo after"])
    first = device.steps[0]
    assert first.result == "fail" and "lava-wait never-sent failed: timed out after 2 s" in first.reason
    assert "reply=<LAVA_WAIT_COMPLETE nack>" in first.output_tail or "nack" in first.output_tail
    assert [s.result for s in device.steps[1:]] == ["skip", "skip"]
    assert device.result == "fail" and "timed out after 2 s" in device.reason


# --- bad input ---------------------------------------------------------------------------
def git_job(repository: str, path: str, extra: str = "") -> str:
    return f"""
job_name: bad
protocols:
  lava-multinode:
    roles: {{solo: {{count: 1}}}}
actions:
- test:
    role: [solo]
    definitions:
    - from: git
      repository: {repository}
      path: {path}
      name: smoke{extra}
"""


def problem_of(tmp_path: Path, text: str) -> JobConfigError:
    job = tmp_path / "bad.yaml"
    job.write_text(text)
    with pytest.raises(JobConfigError) as info:
        load_job(job)
    return info.value


def test_a_repository_that_does_not_exist_is_named_with_its_line(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed (apt-get install git)")
    error = problem_of(tmp_path, git_job(str(tmp_path / "no-such-repo"), "smoke.yaml"))
    assert error.line == 11 and error.field.endswith("definitions[0].repository")
    assert f"cannot clone {tmp_path / 'no-such-repo'}" in str(error) and "check the URL or path" in str(error)


def test_a_path_missing_in_the_repository_is_named(tmp_path, make_git_repository):
    repository = make_git_repository(tmp_path / "repo")
    error = problem_of(tmp_path, git_job(str(repository), "automated/linux/nope/nope.yaml"))
    assert error.line == 12 and "no file 'automated/linux/nope/nope.yaml' in" in str(error)


def test_a_subtree_over_the_limit_says_its_size_and_how_to_narrow_it(tmp_path, make_git_repository):
    repository = make_git_repository(tmp_path / "repo")
    error = problem_of(
        tmp_path, git_job(str(repository), "automated/linux/smoke/smoke.yaml", "\n      serialsync_max_bytes: 500")
    )
    assert "over the 500-byte limit" in str(error) and "serialsync_files" in str(error)
    assert "automated/linux/smoke/ and the lib/ and utils/ directories" in str(error)


def test_a_definition_with_an_error_names_its_file_line_and_field(tmp_path, make_git_repository):
    tree = tmp_path / "tree"
    shutil.copytree(TEST_DEFINITIONS, tree)
    definition = tree / "automated/linux/smoke/smoke.yaml"
    definition.write_text(definition.read_text().replace("run:\n  steps:", "run:\n  step:"))
    repository = make_git_repository(tmp_path / "repo", tree)
    error = problem_of(tmp_path, git_job(str(repository), "automated/linux/smoke/smoke.yaml"))
    assert error.file == f"{repository}:automated/linux/smoke/smoke.yaml"
    line = definition.read_text().splitlines().index("  step:") + 1
    assert error.field == "run.step" and error.line == line and "did you mean 'steps'" in str(error)


def test_a_parameter_name_that_is_not_a_shell_name_is_an_error(tmp_path, make_git_repository):
    repository = make_git_repository(tmp_path / "repo")
    error = problem_of(
        tmp_path,
        git_job(str(repository), "automated/linux/smoke/smoke.yaml", '\n      parameters: {"BAD-NAME": x}'),
    )
    assert error.line == 14 and "not a shell variable name" in str(error) and "BAD-NAME" in error.field
