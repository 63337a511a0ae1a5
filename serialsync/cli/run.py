"""`serialsync run` and `serialsync demo`: a job on its boards, progress, then the result table."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from importlib import resources
from pathlib import Path
from typing import TextIO

from .._time import SYSTEM_CLOCK
from ..coordinator import Coordinator, Member
from ..job import JobResult, Reporter, load_job, parse_job, run_job
from ..job.interrupt import Interrupt, stop_on_signals
from ..job.model import Device, Job
from ..job.plan import sync_plan
from ..status import LiveStatus
from ..watcher import CallRecord
from .common import BAD_COMMAND_LINE, EXIT_FAILED, EXIT_SIGINT, EXIT_USAGE, Command, epilog


class ConsoleReporter(Reporter):
    """Progress lines while the job runs, one per event."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.started = SYSTEM_CLOCK.monotonic()
        self.lock = threading.Lock()

    def _line(self, device: Device, text: str) -> None:
        with self.lock:
            stamp = SYSTEM_CLOCK.monotonic() - self.started
            print(f"{stamp:7.2f}s  {device.name:<12} {device.role:<10} {text}", file=self.stream, flush=True)

    def device_event(self, device: Device, text: str) -> None:
        self._line(device, text)

    def call_started(self, device: Device, api: str, message_id: str | None, role: str | None = None) -> None:
        self._line(device, "  waits: " + " ".join(x for x in (api, message_id, role) if x))

    def call_done(self, device: Device, record: CallRecord) -> None:
        what = f"{record.api} {record.message_id or ''}".rstrip()
        verdict = "ok" if record.ok else f"nack: {record.reason}"
        self._line(device, f"  {what} -> {verdict} ({record.waited:.3f}s)")

    def group_event(self, text: str) -> None:
        if not text:
            return  # "no longer stuck": the calls' own lines say how they ended
        with self.lock:
            stamp = SYSTEM_CLOCK.monotonic() - self.started
            print(f"{stamp:7.2f}s  {'(group)':<23} {text}", file=self.stream, flush=True)


def print_table(result: JobResult, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    rows = [("device", "role", "result", "steps", "calls", "time", "reason")]
    for d in result.devices:
        passed = sum(s.result == "pass" for s in d.steps)
        calls_ok = sum(c["ok"] for c in d.calls)
        rows.append(
            (
                d.name,
                d.role,
                d.result,
                f"{passed}/{len(d.steps)}",
                f"{calls_ok}/{len(d.calls)}",
                f"{d.duration:.2f}s",
                d.reason,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    print(file=stream)
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip(), file=stream)
    print(f"\njob {result.job!r}: {result.result.upper()} in {result.duration:.2f}s", file=stream)


def run_and_report(
    job: Job, outdir: Path, quiet: bool, coordinator: Coordinator | None = None, only: set[str] | None = None
) -> int:
    # On a terminal, a status table redrawn in place; elsewhere (CI logs) one line per event.
    live = not quiet and sys.stdout.isatty()
    reporter: Reporter = Reporter() if quiet else LiveStatus(sys.stdout) if live else ConsoleReporter()
    interrupt = Interrupt()
    with stop_on_signals(interrupt, _say) as signalled:
        try:
            result = run_job(job, outdir, reporter=reporter, coordinator=coordinator, only=only, interrupt=interrupt)
        except ValueError as e:
            print(f"serialsync: {e}", file=sys.stderr)
            return EXIT_USAGE
        finally:
            if isinstance(reporter, LiveStatus):
                reporter.stop()
        print_table(result)
        print(f"results: {outdir / 'results.json'}; console logs: {outdir}/<device>.console.log")
        if (outdir / "timeline.html").is_file():
            print(f"timeline: {outdir / 'timeline.html'} (open it in a browser)")
        if result.interrupted:
            print(f"serialsync: {result.interrupted}; results written", file=sys.stderr)
            return signalled() or EXIT_SIGINT
    return 0 if result.passed else EXIT_FAILED


def _say(text: str) -> None:
    """A line on stderr from a signal handler: one write, no buffered stream."""
    os.write(sys.stderr.fileno(), text.encode() + b"\n")


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", type=Path, help="the job file (YAML: serialsync's or a LAVA MultiNode job)")
    parser.add_argument(
        "-o", "--output", type=Path, default=None, help="results directory (default: ./serialsync-out/JOB)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines, only the result table")
    parser.add_argument(
        "--coordinator",
        metavar="URL",
        help="share the group through Redis (redis://, rediss://, unix://) with other hosts running the same job",
    )
    parser.add_argument("--group", help="the group's name in Redis (default: the job's name)")
    parser.add_argument("--devices", help="comma-separated devices this host runs (default: all)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="run even when the plan finds calls that can never complete (they then wait out their timeouts)",
    )


def _run(args: argparse.Namespace) -> int:
    job = load_job(args.job)
    # The plan's findings before any board is touched: a wait nobody will answer shows now.
    findings = sync_plan(job).findings
    for finding in findings:
        kind = "problem" if finding.blocking else "note"
        print(f"serialsync: {kind}: {job.source}:{finding.line or '?'}: {finding.text}", file=sys.stderr)
    blocking = sum(finding.blocking for finding in findings)
    if blocking and not args.force:
        print(
            f"serialsync: not run: {blocking} call(s) above can never complete and would only wait out "
            "their timeouts; fix the job, or run it anyway with --force",
            file=sys.stderr,
        )
        return EXIT_FAILED
    only = set(args.devices.split(",")) if args.devices else None
    coordinator = None
    if args.coordinator:
        from ..coordinator.redis import RedisCoordinator  # redis-py only when asked for

        members = [Member(device=d.name, role=d.role) for d in job.devices]
        try:
            coordinator = RedisCoordinator(members, args.coordinator, group=args.group or job.name)
        except ValueError as e:  # a bad URL or group name: the command line's fault
            print(f"serialsync: --coordinator/--group: {e}", file=sys.stderr)
            return EXIT_USAGE
    return run_and_report(job, args.output or Path("serialsync-out") / job.name, args.quiet, coordinator, only)


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("serialsync-out/demo"),
        help="results directory (default: %(default)s)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines, only the result table")


def _demo(args: argparse.Namespace) -> int:
    text = resources.files("serialsync").joinpath("examples/demo.yaml").read_text(encoding="utf-8")
    return run_and_report(parse_job(text, source="demo.yaml"), args.output, args.quiet)


RUN = Command(
    "run",
    "run a job file",
    epilog(
        """\
  serialsync run examples/pair.yaml                 progress, then a result table
  serialsync run job.yaml -o out/ --quiet           only the table
  serialsync run job.yaml --devices server1 --coordinator redis://redis.lab:6379/0
                                                    this host's part of a group spread over hosts
""",
        (0, "every device passed"),
        (EXIT_FAILED, "a device failed"),
        (EXIT_USAGE, "bad job file (file, line and field named) or command line"),
    ),
    _arguments,
    _run,
)
DEMO = Command(
    "demo",
    "run the demo group: one server, two clients, simulated boards",
    epilog(
        """\
  serialsync demo
  serialsync demo -o /tmp/demo --quiet
""",
        (0, "every device passed"),
        (EXIT_FAILED, "a device failed"),
        BAD_COMMAND_LINE,
    ),
    _demo_arguments,
    _demo,
)
