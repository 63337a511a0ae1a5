"""`serialsync replay`: protocol events found in recorded console logs, raw or LAVA YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from serialsync.cli import main
from serialsync.protocol.events import Discarded, SendRequest, SyncRequest
from serialsync.replay import ReplayError, replay_log

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
RAW = FIXTURES / "lava-helpers-server-send-wait-sync.rx"
LAVA_LOG = FIXTURES / "lava-job-log-server.yaml"


def requests(found):
    return [f.event for f in found if not isinstance(f.event, Discarded)]


def test_replay_finds_the_same_requests_in_a_raw_log_and_in_lava_s_yaml_log():
    raw, lava = replay_log(RAW), replay_log(LAVA_LOG)
    assert requests(raw) == requests(lava)
    assert SendRequest in {type(e) for e in requests(raw)} and SyncRequest in {type(e) for e in requests(raw)}
    # Lines point into each file: the send is on raw line 5, and on its own entry in the YAML log.
    assert raw[0].line == 5
    assert b"LAVA_SEND server-up" in LAVA_LOG.read_bytes().splitlines()[lava[0].line - 1]


def test_replay_only_reads_the_board_s_output_from_a_lava_log(tmp_path):
    log = tmp_path / "job.yaml"
    log.write_text(
        '- {"dt": "2026-01-01T00:00:00", "lvl": "input", "msg": "<LAVA_MULTI_NODE> <LAVA_SYNC typed>"}\n'
        '- {"dt": "2026-01-01T00:00:01", "lvl": "target", "msg": "<LAVA_MULTI_NODE> <LAVA_SYNC printed>"}\n'
    )
    assert [(f.line, f.event.message_id) for f in replay_log(log)] == [(2, "printed")]


def test_replay_of_a_broken_lava_log_names_the_line(tmp_path):
    log = tmp_path / "job.yaml"
    log.write_text('- {"dt": "2026-01-01T00:00:00", "lvl": "target", "msg": "ok"}\n- {"dt": "x", "lvl": [}\n')
    with pytest.raises(ReplayError, match=r"job\.yaml:2: not a LAVA log entry"):
        replay_log(log)


def test_replay_command_prints_each_event_with_its_line(capsys):
    assert main(["replay", str(LAVA_LOG)]) == 0
    out = capsys.readouterr().out
    assert "SendRequest[lava] message_id='server-up'" in out
    assert "unknown LAVA request 'FROB'" in out
    assert out.splitlines()[-1].endswith("events")


def grep_n(marker: bytes, path: Path) -> int:
    """The line `grep -n` reports for the first line holding *marker*."""
    import subprocess

    done = subprocess.run(["grep", "-n", "-a", "-F", "-m1", "-e", marker, str(path)], capture_output=True, check=True)
    return int(done.stdout.split(b":", 1)[0])


def test_replay_lines_end_at_lf_only_as_grep_and_editors_count_them(tmp_path):
    log = tmp_path / "console.log"
    # A lone CR (a progress bar redrawing its line) is no line break; CR LF is one.
    log.write_bytes(
        b"boot\r\n"
        b"progress 10%\rprogress 50%\rprogress 100%\r\n"
        b"\r\r\rstill line three\n"
        b"<LAVA_MULTI_NODE> <LAVA_SYNC first>\r\n"
        b"a\rb\rc\r<LAVA_MULTI_NODE> <LAVA_SYNC second>\r\n"
        b"\r\n\n"
        b"<LAVA_MULTI_NODE> <LAVA_SYNC third>"  # no line end at all
    )
    found = {f.event.message_id: f.line for f in replay_log(log)}
    assert found == {name: grep_n(b"LAVA_SYNC " + name.encode(), log) for name in ("first", "second", "third")}
    assert found == {"first": 4, "second": 5, "third": 8}


def test_replay_finds_a_marker_split_across_reads_on_its_own_line(tmp_path):
    from serialsync import replay

    log = tmp_path / "console.log"
    line = b"x" * (3 * replay.CHUNK + 17)  # a line longer than several reads
    marker = b"<LAVA_MULTI_NODE> <LAVA_SYNC across>"
    cut = replay.CHUNK - 10  # the read ends inside the marker
    log.write_bytes(b"one\n" + line[:cut] + marker + line[cut:] + b"\n<LAVA_MULTI_NODE> <LAVA_SYNC after>\n")
    assert [(f.line, f.event.message_id) for f in replay_log(log)] == [(2, "across"), (3, "after")]


def test_replay_of_a_lava_entry_wrapped_over_lines_reads_it_whole(tmp_path):
    log = tmp_path / "job.yaml"
    log.write_text(
        '- {"dt": "2026-01-01T00:00:00", "lvl": "target", "msg": "hello"}\n'
        '- {"dt": "2026-01-01T00:00:01", "lvl": "target",\n'
        '   "msg": "<LAVA_MULTI_NODE> <LAVA_SYNC wrapped>"}\n'
        '- {"dt": "2026-01-01T00:00:02", "lvl": "target", "msg": "<LAVA_MULTI_NODE> <LAVA_SYNC next>"}\n'
    )
    assert [(f.line, f.event.message_id) for f in replay_log(log)] == [(2, "wrapped"), (4, "next")]
