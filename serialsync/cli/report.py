"""`serialsync report`: a run drawn on one time axis (timeline.html), from its output or LAVA's job logs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import EXIT_FAILED, EXIT_USAGE, Command, epilog


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="DIR | LOG",
        help="the output directory of `serialsync run`, or LAVA's YAML job logs, one per sub-job (named by file)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="the page to write (default: DIR/timeline.html, or ./timeline.html for LAVA logs)",
    )


def _run(args: argparse.Namespace) -> int:
    return _report(args.paths, args.output)


def _report(paths: list[Path], output: Path | None) -> int:
    """timeline.html of a run's output directory, or of a LAVA MultiNode job's sub-job logs."""
    from ..timeline import TIMELINE_FILE, TimelineError, from_lava_logs, from_run, write_timeline

    try:
        directories = [p for p in paths if p.is_dir()]
        if directories and len(paths) > 1:
            raise TimelineError("give one run's output directory, or LAVA job logs (one per sub-job), not both")
        if directories:
            timeline, target = from_run(paths[0]), output or paths[0] / TIMELINE_FILE
        else:
            timeline, target = from_lava_logs(paths), output or Path(TIMELINE_FILE)
    except TimelineError as e:
        print(f"serialsync: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        write_timeline(timeline, target)
    except OSError as e:
        print(f"serialsync: {target}: cannot write the timeline: {e.strerror or e}", file=sys.stderr)
        return EXIT_FAILED
    calls = sum(1 for b in timeline.bars if b.kind != "step")
    print(f"timeline: {target} ({len(timeline.lanes)} devices, {calls} calls, {timeline.duration:.3f} s)")
    return 0


REPORT = Command(
    "report",
    "draw a run as one HTML page (timeline.html): a lane per device, its steps and calls, sync rounds, "
    "who released whom, failures; from a run's output directory or from LAVA MultiNode job logs",
    epilog(
        """\
  serialsync report serialsync-out/pair                 write serialsync-out/pair/timeline.html again
  serialsync report job-1234.1.yaml job-1234.2.yaml     a LAVA MultiNode job's sub-job logs: ./timeline.html
  serialsync report lava-logs/*.yaml -o lab-run.html    the same, written where you say
""",
        (0, "written"),
        (EXIT_FAILED, "the page could not be written"),
        (EXIT_USAGE, "a directory without results.json, a file that is not a LAVA job log, or bad command line"),
    ),
    _arguments,
    _run,
)
