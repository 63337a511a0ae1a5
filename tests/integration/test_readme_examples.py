"""The README's job example is a job that works: its plan has no problem, and it passes on simulated boards."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from serialsync.job import parse_job, run_job
from serialsync.job.plan import sync_plan

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_job() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Job file format (version 1)") :]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None, "no yaml block under the job format heading"
    # The example's second board sits behind a console server; here it is simulated,
    # and the settings only a real console takes go with it.
    job = re.sub(r"connection: socket://\S+", "connection: simulated:dash", block.group(1))
    return "\n".join(line for line in job.splitlines() if not re.match(r"\s+(install_helpers|pacing|kmsg):", line))


def test_readme_job_example_has_a_sound_plan_and_passes(tmp_path):
    job = parse_job(readme_job(), source="README.md")
    assert [f.text for f in sync_plan(job).problems] == []
    result = run_job(job, tmp_path)
    assert result.passed, [(d.name, d.reason) for d in result.devices]
