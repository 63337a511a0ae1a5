"""`serialsync report` and the timeline that `serialsync run` leaves behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from serialsync.cli import EXIT_USAGE, main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "timeline"


def test_report_regenerates_a_runs_timeline(tmp_path, capsys):
    run = Path(shutil.copytree(FIXTURES / "sim-failures", tmp_path / "run"))
    assert main(["report", str(run)]) == 0
    page = run / "timeline.html"
    assert f"timeline: {page} (4 devices, 22 calls" in capsys.readouterr().out
    assert "client3" in page.read_text(encoding="utf-8")


def test_report_of_an_interrupted_run_says_so(tmp_path):
    run = Path(shutil.copytree(FIXTURES / "sim-stuck", tmp_path / "run"))
    results = json.loads((run / "results.json").read_text())
    results.update(result="interrupted", interrupted="interrupted by Ctrl-C (SIGINT)")
    (run / "results.json").write_text(json.dumps(results))
    assert main(["report", str(run), "-o", str(tmp_path / "page.html")]) == 0
    text = (tmp_path / "page.html").read_text(encoding="utf-8")
    assert "the run was interrupted: interrupted by Ctrl-C (SIGINT)" in text and "INTERRUPTED" in text


def test_report_of_lava_job_logs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    logs = sorted(str(p) for p in (FIXTURES / "lava-group").glob("*.yaml"))
    assert main(["report", *logs]) == 0
    assert "timeline: timeline.html (3 devices, 16 calls" in capsys.readouterr().out
    assert "server01" in (tmp_path / "timeline.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d, "has no results.json: is it the output directory of serialsync run?"),
        (lambda d: _write(d / "x.log", "a console\n<LAVA_MULTI_NODE> <LAVA_SYNC x>\n"), "not a LAVA job log"),
        (lambda d: _write(d / "job.yaml", "job_name: x\nactions: []\n"), "not a LAVA job log"),
        (lambda d: d / "missing.yaml", "missing.yaml: no such file"),
    ],
)
def test_report_of_bad_input_is_a_clear_error_exit_2(tmp_path, capsys, make, message):
    path = make(tmp_path)
    assert main(["report", str(path)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("serialsync: ") and message in err
    assert not (tmp_path / "timeline.html").exists()


def test_report_of_a_directory_and_logs_together_is_exit_2(tmp_path, capsys):
    assert main(["report", str(tmp_path), str(FIXTURES / "lava-group" / "server01.yaml")]) == EXIT_USAGE
    assert "not both" in capsys.readouterr().err


def test_run_writes_the_timeline_and_says_where(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert f"timeline: {out / 'timeline.html'}" in printed
    text = (out / "timeline.html").read_text(encoding="utf-8")
    assert "server1" in text and "lava-sync tests-done" in text


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
