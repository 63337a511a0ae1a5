"""The host never types into a board uninvited: a bootloader that stops on any byte boots untouched."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from serialsync._resources import helpers_dir
from serialsync.job import parse_job, run_job

pytestmark = pytest.mark.slow

BOOTLOADER = Path(__file__).resolve().parent / "boards" / "bootloader.py"


def test_a_board_behind_a_bootloader_receives_nothing_before_its_shell_prompt(tmp_path):
    if shutil.which("dash") is None:
        pytest.skip("dash is not installed (CI installs it)")
    received = tmp_path / "bootloader-received"
    command = f"env PATH={helpers_dir()}:/usr/bin:/bin BOOTLOADER_LOG={received} {sys.executable} {BOOTLOADER} dash 2"
    job = f"""
job_name: behind-a-bootloader
timeouts: {{job: {{minutes: 2}}, action: {{minutes: 1}}}}
protocols:
  lava-multinode:
    roles:
      board: {{devices: [{{name: dut, connection: {json.dumps("cmd:" + command)}}}]}}
      peer: {{count: 1, connection: "simulated:dash"}}
    timeout: {{seconds: 30}}
actions:
- boot:
    role: [board]
    prompts: ['board\\$ ']
- test:
    role: [board, peer]
    definitions:
    - from: inline
      name: up
      path: inline/up.yaml
      repository:
        metadata: {{format: Lava-Test Test Definition 1.0, name: up}}
        run:
          steps:
          - lava-sync booted
          - echo "I am $(lava-self)"
"""
    result = run_job(parse_job(job, source="bootloader.yaml"), tmp_path / "out")
    log = (tmp_path / "out" / "dut.console.log").read_bytes()
    assert received.read_bytes() == b"", f"the bootloader was typed into: {received.read_bytes()!r}"
    assert b"Starting kernel" in log and b"=> " not in log
    assert result.passed, [(d.name, d.reason) for d in result.devices]


def test_a_bootloaders_echo_cannot_pass_for_the_boards_shell(tmp_path):
    """Typed into a bootloader's prompt, the probe gets an echo back, but not the answer only a shell computes."""
    received = tmp_path / "bootloader-received"
    # A countdown far longer than the test: the probe stops it, and it stays at its prompt.
    command = f"env BOOTLOADER_LOG={received} {sys.executable} {BOOTLOADER} dash 600"
    job = f"""
timeouts: {{boot: 4, call: 10}}
devices:
  - {{name: dut, role: solo, connection: {json.dumps("cmd:" + command)}}}
roles:
  solo:
    steps:
      - echo never-typed-into-a-bootloader
"""
    (device,) = run_job(parse_job(job, source="stopped.yaml"), tmp_path / "out").devices
    log = (tmp_path / "out" / "dut.console.log").read_bytes()
    assert b"=> " in log and b"__SSREADY$((" in log  # the bootloader echoed the probe, literally
    assert device.result == "fail" and "the board's shell did not answer within timeouts.boot (4 s)" in device.reason
    assert b"never-typed" not in received.read_bytes()  # no step went into the bootloader
