"""Job files in LAVA's MultiNode shape: read into the same Job, errors with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from serialsync.errors import JobConfigError
from serialsync.job import load_job, parse_job

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_lava_example_jobs_load():
    job = load_job(EXAMPLES / "lava-iperf.yaml")
    assert job.name == "lava-iperf"
    assert [(d.name, d.role, d.connection) for d in job.devices] == [
        ("server1", "server", "simulated:dash"),
        ("client-a", "client", "simulated:sh"),
        ("client-b", "client", "simulated:bash"),
    ]
    assert job.timeouts.call == 120.0 and job.timeouts.step == 120.0 and job.timeouts.job == 300.0
    client = job.devices[1]
    kinds = [(a.kind, a.name) for a in job.actions_of(client)]
    assert kinds == [("boot", "boot"), ("test", "test")]
    (wait,) = job.actions_of(client)[1].requests
    assert (wait.api, wait.message_id, wait.message) == (
        "lava-wait",
        "server-ready",
        (("ipaddr", "$server_ip"), ("port", "$server_port")),
    )
    text = (EXAMPLES / "lava-iperf.yaml").read_text().splitlines()
    assert text[wait.line - 1].strip() == "- request: lava-wait"  # the line names the request
    names = [s.name for a in job.actions_of(job.devices[0]) for s in a.steps]
    assert names == [
        "iperf-server: lava-wait-all client-done client",
        "iperf-server: grep -c ':bandwidth=' \"$LAVA_MULTI_NODE_CACHE\" | grep -qx 2",
        "iperf-server: lava-sync teardown",
    ]
    boot = load_job(EXAMPLES / "lava-boot-wait.yaml")
    assert boot.essential_roles == {"server"}
    assert [d.name for d in boot.devices] == ["server1", "client1", "client2"]
    server_boot = next(a for a in boot.actions_of(boot.devices[0]) if a.kind == "boot")
    assert server_boot.login is not None and server_boot.login.username == "root"


BAD = """job_name: broken
protocols:
  lava-multinode:
    roles:
      server: {count: 0}
      client: {count: 2, conection: simulated}
actions:
- boot:
    role: [server, clients]
- test:
    role: client
    protocols:
      lava-multinode:
      - request: lava-wiat
        messageID: go
      - request: lava-wait
        messageID: ready
        message: {ip: 10.0.0.1}
    definitions:
    - from: git
      name: remote
- reboot: {role: [server]}
"""


def test_lava_job_problems_are_all_reported_with_lines():
    with pytest.raises(JobConfigError) as info:
        parse_job(BAD, source="bad.yaml")
    message = str(info.value)
    for expected in (
        "bad.yaml:5: protocols.lava-multinode.roles.server.count: expected a count of devices, 1-256",
        "bad.yaml:6: protocols.lava-multinode.roles.client.conection: unknown field",
        "bad.yaml:9: actions[0].boot.role: unknown role 'clients'",
        "bad.yaml:14: actions[1].test.protocols.lava-multinode[0].request: expected one of lava-send",
        "bad.yaml:18: actions[1].test.protocols.lava-multinode[1].message.ip: a wait's message names where",
        "bad.yaml:20: actions[1].test.definitions[0].repository: missing",
        "bad.yaml:20: actions[1].test.definitions[0].path: missing",
        "bad.yaml:22: actions[2].reboot: unknown action",
    ):
        assert expected in message, (expected, message)


def test_lava_ignores_what_does_not_matter_here_but_not_typos():
    text = """job_name: j
device_type: qemu
priority: medium
visibility: public
protocols:
  lava-multinode:
    roles:
      a: {count: 1, device_type: qemu}
actions:
- deploy: {role: [a], to: tmpfs, images: {kernel: {url: "http://example.invalid/k"}}}
- boot: {role: [a], method: qemu, media: tmpfs, prompts: ['\\$ ']}
- test: {role: [a], steps: ["true"], definitons: []}
"""
    with pytest.raises(JobConfigError, match=r"j\.yaml:12: actions\[2\]\.test\.definitons: unknown field"):
        parse_job(text, source="j.yaml")
    job = parse_job(text.replace(", definitons: []", ""), source="j.yaml")
    assert [a.kind for a in job.actions] == ["deploy", "boot", "test"]


GROUP = """job_name: typo
protocols:
  lava-multinode:
    roles:
      server: {count: 1}
      client: {count: 2}
actions:
- boot:
    role: [server, client]
- test:
    role: [client]
    protocols:
      lava-multinode:
      - {request: lava-wait-all, messageID: up, role: server}
    steps: ["lava-send up"]
- test:
    role: server
    steps: ["lava-send up"]
"""


def test_lava_typo_in_the_multinode_block_is_one_problem_with_a_suggestion():
    parse_job(GROUP, source="typo.yaml")  # the group as written is fine
    with pytest.raises(JobConfigError) as info:
        parse_job(GROUP.replace("  lava-multinode:\n    roles:", "  lava-multinod:\n    roles:"), source="typo.yaml")
    message = str(info.value)
    assert "problems" not in message, message
    assert message == (
        "typo.yaml:3: protocols.lava-multinod: unknown field (allowed: lava-multinode) (did you mean 'lava-multinode'?)"
    )
    with pytest.raises(JobConfigError) as info:
        parse_job(GROUP.replace("    roles:", "    rolse:"), source="typo.yaml")
    assert str(info.value) == (
        "typo.yaml:4: protocols.lava-multinode.rolse: unknown field (allowed: roles, timeout) (did you mean 'roles'?)"
    )


def test_lava_unknown_names_suggest_the_name_meant():
    with pytest.raises(JobConfigError) as info:
        text = GROUP.replace("role: [client]", "role: [clinet]").replace("lava-wait-all", "lava-wait-al")
        parse_job(text, source="t.yaml")
    message = str(info.value)
    assert "t.yaml:11: actions[1].test.role: unknown role 'clinet' (the group's roles: client, server)" in message
    assert "(did you mean 'client'?)" in message
    assert "expected one of lava-send, lava-sync, lava-wait, lava-wait-all (did you mean 'lava-wait-all'?)" in message
