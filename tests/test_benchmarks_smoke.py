"""The benchmarks run (python -m benchmarks --quick) and produce every row and the JSON; not how fast."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real shells on ptys, as the integration tests

REPO = Path(__file__).resolve().parents[1]
HELPERS = (
    "lava-send",
    "lava-sync",
    "lava-wait",
    "lava-wait-all",
    "lava-group",
    "lava-role",
    "lava-self",
    "lava-test-case",
)
ROWS = {
    *(f"sync.{n}" for n in (2, 8, 32, 128, 256)),
    "wakeup",
    "uart.sync",
    "uart.sync_echo",
    *(f"typing.{case}" for case in ("echo", "latency", "lowlatency")),
    "install.helpers",
    "install.helpers_echo",
    "scan.watcher",
    "scan.parser",
    "scan.pexpect",
    "scan.memory",
    *(f"helpers.{shell}.{helper}" for shell in ("dash", "busybox") for helper in HELPERS),
    "scale.rss",
    "scale.idle",
    "scale.sync",
    "scale.log",
    "redis.sync",
}


def test_benchmarks_quick_prints_every_row_and_writes_json(tmp_path):
    out = tmp_path / "results.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # a hang guard: the quick run takes about 25 s
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {row["id"]: row for row in json.loads(out.read_text())["rows"]}
    assert set(rows) == ROWS
    for key, row in rows.items():
        assert not row["result"].startswith("ERROR"), (key, row["result"])
        assert row["figure"] in done.stdout, key
    measured = ["sync.2", "wakeup", "uart.sync", "uart.sync_echo", "scan.watcher", "typing.latency", "install.helpers"]
    if shutil.which("redis-server"):  # CI installs it; elsewhere the row says what is missing
        measured.append("redis.sync")
    else:
        assert rows["redis.sync"]["result"] == "n/a (redis-server not installed)"
    for key in measured:
        assert rows[key]["median"] is not None and rows[key]["floor"] is not None, key
    assert rows["sync.256"]["result"] == "skipped (--quick)"


def test_benchmarks_only_runs_the_named_one_and_rejects_unknown_names(tmp_path):
    out = tmp_path / "only.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "redis", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [row["id"] for row in json.loads(out.read_text())["rows"]] == ["redis.sync"]
    bad = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "nosuch"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2 and "unknown benchmark nosuch" in bad.stderr
