"""LAVA-shaped jobs run on simulated boards: boot, test and command actions, protocol requests."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from serialsync.cli import main
from serialsync.job import parse_job, run_job

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def results(outdir: Path) -> dict[str, dict]:
    return {d["name"]: d for d in json.loads((outdir / "results.json").read_text())["devices"]}


def test_example_server_waits_during_boot_for_its_clients(tmp_path):
    assert main(["run", str(EXAMPLES / "lava-boot-wait.yaml"), "-q", "-o", str(tmp_path)]) == 0
    devices = results(tmp_path)
    server_calls = [(c["api"], c["message_id"], c["ok"]) for c in devices["server1"]["calls"]]
    assert server_calls == [("lava-wait-all", "client-booted", True), ("lava-sync", "all-booted", True)]
    # the server logged in (auto_login) before its shell answered
    log = (tmp_path / "server1.console.log").read_bytes()
    assert log.index(b"login:") < log.index(b"Password:") < log.index(b"__SSREADY")
    cases = {c.get("name") for c in ET.parse(tmp_path / "results.xml").getroot().iter("testcase")}
    assert {"multinode-lava-wait-all-client-booted", "multinode-lava-send-client-booted"} <= cases
    assert 'smoke: test "$(lava-role)" = client || test "$client_kernel" = 6.1.0-28-amd64' in cases


def test_example_iperf_mixes_requests_and_helper_calls(tmp_path):
    assert main(["run", str(EXAMPLES / "lava-iperf.yaml"), "-q", "-o", str(tmp_path)]) == 0
    devices = results(tmp_path)
    assert [s["name"] for s in devices["server1"]["steps"]][-1] == "command-collect-results"
    # the address the client received by a request was used in its step's command line
    assert b"iperf3 -c 10.0.0.1 -p 5201" in (tmp_path / "client-a.console.log").read_bytes()
    for client in ("client-a", "client-b"):
        apis = [c["api"] for c in devices[client]["calls"]]
        assert apis == ["lava-wait", "lava-send", "lava-sync"]  # a request, then the helpers'


def test_received_values_reach_the_board_as_data_never_as_code(tmp_path):
    text = r"""
job_name: inert
protocols:
  lava-multinode:
    roles:
      sender: {count: 1}
      receiver: {count: 1}
actions:
- test:
    role: [sender]
    protocols:
      lava-multinode:
      - {request: lava-send, messageID: v, message: {value: "a'b $(touch pwned) `touch pwned2` \x01\x15\x03\n\n"}}
    steps: ["true"]
- test:
    role: [receiver]
    protocols:
      lava-multinode:
      - {request: lava-wait, messageID: v, message: {value: $v}}
    steps:
    - |
      printf '%s' "$v" > got
      printf 'a%sb $(touch pwned) `touch pwned2` \001\025\003\n\n' "'" > want
      cmp got want && test ! -e pwned && test ! -e pwned2
"""
    result = run_job(parse_job(text, source="inert.yaml"), tmp_path)
    assert result.passed, [(d.name, d.reason, [s.output_tail for s in d.steps]) for d in result.devices]


def test_a_request_for_a_value_nobody_received_fails_with_its_line(tmp_path):
    text = """
job_name: unknown-var
protocols:
  lava-multinode:
    roles:
      a: {count: 1}
actions:
- test:
    role: [a]
    protocols:
      lava-multinode:
      - {request: lava-send, messageID: m, message: {ip: $never_received}}
    steps: ["true"]
"""
    result = run_job(parse_job(text, source="u.yaml"), tmp_path)
    (device,) = result.devices
    assert device.result == "fail"
    assert "lava-send m (line 12)" in device.reason and "$never_received" in device.reason
    assert [s.result for s in device.steps] == ["skip"]  # the action's steps were not run


def test_a_lava_job_with_deploy_images_and_lava_test_case_runs_as_written(tmp_path):
    """A LAVA-shaped job as people write them for LAVA: deploy images (skipped here), auto_login,
    inline definitions whose steps record test cases with lava-test-case."""
    text = """
job_name: apache
timeouts: {job: {minutes: 5}, action: {minutes: 2}, connection: {minutes: 1}}
priority: medium
visibility: public
metadata: {docs-source: writing-multinode}
protocols:
  lava-multinode:
    roles:
      server: {device_type: cubietruck, count: 1, connection: "simulated:sh?login=root:x"}
      client: {device_type: beaglebone-black, count: 2, connection: "simulated:dash?login=root:x"}
    timeout: {minutes: 1}
actions:
- deploy:
    role: [server, client]
    to: tftp
    kernel: {url: "http://images.example.invalid/vmlinuz", type: zimage}
    ramdisk: {url: "http://images.example.invalid/initramfs.cpio.gz", compression: gz, add-header: u-boot}
- boot:
    role: [client, server]
    method: u-boot
    commands: nfs
    auto_login: {login_prompt: 'login:', username: root, password_prompt: 'Password:', password: x}
    prompts: ['board\\$ ']
- test:
    role: [client]
    definitions:
    - repository:
        metadata: {format: Lava-Test Test Definition 1.0, name: client-wait, os: [debian]}
        run:
          steps:
          - lava-test-case client-uname --shell uname -a
          - lava-wait server_installed
      from: inline
      name: client-wait
      path: inline/client-wait.yaml
- test:
    role: [server]
    definitions:
    - repository:
        metadata: {format: Lava-Test Test Definition 1.0, name: server}
        run:
          steps:
          - lava-test-case installed --shell test -d /
          - lava-test-case throughput --result pass --measurement 94.2 --units Mbit/s
          - lava-test-case broken --shell false || true
          - lava-send server_installed
      from: inline
      name: server
      path: inline/server.yaml
"""
    result = run_job(parse_job(text, source="apache.yaml"), tmp_path)
    assert result.passed, [(d.name, d.reason) for d in result.devices]
    server = next(d for d in result.devices if d.role == "server")
    assert [(c["name"], c["result"], c["measurement"], c["units"]) for c in server.test_cases] == [
        ("installed", "pass", None, None),
        ("throughput", "pass", "94.2", "Mbit/s"),
        ("broken", "fail", None, None),
    ]
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "results.xml").getroot().iter("testcase")}
    assert cases["broken"].find("failure") is not None and cases["installed"].find("failure") is None
    assert {c["name"] for d in result.devices if d.role == "client" for c in d.test_cases} == {"client-uname"}


def test_a_board_that_panics_while_its_host_waits_for_the_group_fails_at_once(tmp_path):
    """The server's boot waits for clients that never come; its console is still read, and its panic ends it."""
    text = """
job_name: panic-in-wait
timeouts: {job: {minutes: 5}}
protocols:
  lava-multinode:
    roles:
      server: {count: 1, connection: 'cmd:sh -c "echo Kernel panic - not syncing: VFS; exec cat"'}
      client: {count: 1}
    timeout: {minutes: 10}
actions:
- boot:
    role: [server]
    protocols:
      lava-multinode:
      - {request: lava-wait-all, messageID: client-booted, role: client}
- test:
    role: [client]
    protocols:
      lava-multinode:
      - {request: lava-wait, messageID: server-up}
    steps: ["true"]
"""
    result = run_job(parse_job(text, source="p.yaml"), tmp_path)
    server = next(d for d in result.devices if d.name.startswith("server"))
    assert server.result == "fail"
    assert "Kernel panic - not syncing" in server.reason and "while waiting in lava-wait-all" in server.reason
    (call,) = server.calls
    assert not call["ok"] and "timed out" not in call["reason"]  # ended by the panic, not by the 10 min timeout
