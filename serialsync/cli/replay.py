"""`serialsync replay`: the protocol events in a recorded console, or a recorded run played back as a group."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .common import EXIT_FAILED, EXIT_USAGE, Command, epilog


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", type=Path, help="a console log, or the output directory of `serialsync run`")
    parser.add_argument(
        "--json", action="store_true", help="print the events, or each device's verdict, as JSON (see README)"
    )


def _run(args: argparse.Namespace) -> int:
    return _replay(args.log, args.json)


def _replay(path: Path, as_json: bool) -> int:
    """A log: print its protocol events. A run's output directory: play its devices back as a group."""
    if not path.exists():
        print(f"serialsync: {path}: no such file or directory", file=sys.stderr)
        return EXIT_USAGE
    if path.is_dir():
        return _replay_run(path, as_json)
    return _replay_log(path, as_json)


def _replay_run(directory: Path, as_json: bool) -> int:
    from ..replay import replay_group

    results_file = directory / "results.json"
    if not results_file.is_file():
        print(
            f"serialsync: {directory} has no results.json: is it the output directory of serialsync run?",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        results = json.loads(results_file.read_text(encoding="utf-8"))
        members = [(d["name"], d["role"], directory / f"{d['name']}.console.log") for d in results["devices"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"serialsync: {results_file}: not the results.json of serialsync run: {e}", file=sys.stderr)
        return EXIT_USAGE
    missing = [str(log) for _, _, log in members if not log.is_file()]
    if missing:
        print(f"serialsync: {directory}: a device's console log is missing: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    played = replay_group(members)
    passed = all(d.passed for d in played)
    if as_json:
        devices = [
            {
                "name": d.name,
                "role": d.role,
                "answered": d.board.answered,
                "pauses": d.board.pauses,
                "finished": d.finished,
                "mismatches": list(d.board.mismatches),
                "passed": d.passed,
            }
            for d in played
        ]
        print(json.dumps({"run": str(directory), "devices": devices, "passed": passed}, indent=2))
        return 0 if passed else EXIT_FAILED
    for device in played:
        board = device.board
        verdict = "ok" if device.passed else "DIFFERS"
        end = "" if device.finished else ", recording not played to its end"
        print(f"{device.name}: {board.answered}/{board.pauses} requests answered{end}: {verdict}")
        for mismatch in board.mismatches:
            print(f"  {mismatch}")
    return 0 if passed else EXIT_FAILED


def _replay_log(log: Path, as_json: bool) -> int:
    """Each event is printed as the log is read: memory stays flat however long the log."""
    try:
        return _print_events(log, as_json)
    except BrokenPipeError:
        # `serialsync replay big.log | head`: the reader is gone; end quietly, as cat or grep would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


def _print_events(log: Path, as_json: bool) -> int:
    from ..replay import ReplayError, describe, event_fields, iter_log

    count = 0
    if as_json:
        # One JSON document, written as it grows: '{"log": ..., "events": [', an event a line, '], "count": N}'.
        sys.stdout.write(f'{{"log": {json.dumps(str(log))}, "events": [')
        try:
            for item in iter_log(log):
                fields = {"line": item.line or None, **event_fields(item.event)}
                sys.stdout.write(("," if count else "") + "\n  " + json.dumps(fields))
                count += 1
        except ReplayError as e:
            sys.stdout.write(f'\n], "count": {count}, "error": {json.dumps(str(e))}}}\n')
            raise
        sys.stdout.write(f'\n], "count": {count}}}\n')
        return 0
    for item in iter_log(log):
        where = f"{log}:{item.line}" if item.line else f"{log}:EOF"
        print(f"{where}: {describe(item.event)}")
        count += 1
    print(f"{count} events")
    return 0


REPLAY = Command(
    "replay",
    "print the protocol events in a console log (raw or LAVA YAML), "
    "or play a run's output directory back as a group and compare the host's answers",
    epilog(
        """\
  serialsync replay serialsync-out/pair/server1.console.log   protocol events of a raw console log
  serialsync replay lava-job-1234.yaml                         the same from LAVA's YAML job log
  serialsync replay serialsync-out/pair                        a recorded run played back as a group
  serialsync replay --json serialsync-out/pair                 its verdicts as JSON
""",
        (0, "the log was read; or every device was answered as recorded"),
        (EXIT_FAILED, "an answer differs from the recording, or the log cannot be read"),
        (EXIT_USAGE, "no such path, a directory that is not a run's output, or bad command line"),
    ),
    _arguments,
    _run,
)
