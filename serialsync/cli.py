"""Command line: `serialsync run | check | replay | report | groups | demo | helpers | install-helpers`.

Argument handling and output formats only; `python -m serialsync` runs main().
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path
from typing import TextIO

from . import __version__
from ._resources import helpers_dir
from .console import ConsoleSession
from .coordinator import Coordinator, Member
from .errors import JobConfigError, SerialsyncError
from .install import DEFAULT_DIR, install_helpers
from .job import JobResult, Reporter, load_job, parse_job, run_job
from .job.interrupt import Interrupt, stop_on_signals
from .job.model import Device, Job
from .job.plan import PlannedCall, SyncPlan, sync_plan
from .job.run import wait_ready
from .status import LiveStatus
from .transports import open_transport
from .watcher import CallRecord

EXIT_FAILED = 1  # a device failed
EXIT_USAGE = 2  # bad command line or job file
EXIT_SIGINT = 128 + 2  # interrupted by Ctrl-C
EXIT_SIGTERM = 128 + 15  # interrupted by SIGTERM


class ConsoleReporter(Reporter):
    """Progress lines while the job runs, one per event."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def _line(self, device: Device, text: str) -> None:
        with self.lock:
            stamp = time.monotonic() - self.started
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
            stamp = time.monotonic() - self.started
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


def _run(
    job: Job, outdir: Path, quiet: bool, coordinator: Coordinator | None = None, only: set[str] | None = None
) -> int:
    # On a terminal, a status table redrawn in place; elsewhere (CI logs) one line per event.
    live = not quiet and sys.stdout.isatty()
    reporter: Reporter = Reporter() if quiet else LiveStatus(sys.stdout) if live else ConsoleReporter()
    interrupt = Interrupt()
    with stop_on_signals(interrupt, _say) as signalled:
        try:
            result = run_job(
                job, outdir, reporter=reporter, coordinator=coordinator, only=only, interrupt=interrupt
            )
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


def _groups(action: str, url: str, group: str | None) -> int:
    from .coordinator.redis import clear_group, list_groups, redact_url

    if action == "list":
        for name in list_groups(url):
            print(name)
        return 0
    if not group:
        print("serialsync: groups clear needs the group's name", file=sys.stderr)
        return EXIT_USAGE
    deleted = clear_group(url, group)
    if not deleted:
        print(f"serialsync: no group {group!r} at {redact_url(url)}", file=sys.stderr)
        return EXIT_FAILED
    print(f"cleared group {group!r} ({deleted} keys)")
    return 0


def _install(spec: str, directory: str, timeout: float) -> int:
    with tempfile.TemporaryDirectory(prefix="serialsync-") as workdir:
        transport = open_transport(spec, workdir=Path(workdir))
        try:
            session = ConsoleSession(transport, timeout=timeout)
            wait_ready(session, timeout)
            for item in install_helpers(session, directory=directory, timeout=timeout):
                print(f"{item.path}  {item.size} bytes  checksum verified  (typed {item.attempts}x)")
        finally:
            transport.close()
    print(f"helpers installed; on the board: export PATH={directory}:$PATH")
    return 0


def _check(path: Path, as_json: bool) -> int:
    plan = sync_plan(load_job(path))
    if as_json:
        print(json.dumps(_plan_document(plan), indent=2, ensure_ascii=False))
    else:
        print(plan.render())
    return EXIT_FAILED if plan.problems else 0


def _plan_document(plan: SyncPlan) -> dict:
    """`check --json`: the plan as README's "Machine-readable output" describes it."""
    job = plan.job

    def call(c: PlannedCall) -> dict:
        helper = c.origin != "request"
        return {
            "api": c.api,
            "message_id": c.message_id,
            "wait_role": c.wait_role,
            "role": c.role,
            "line": c.line,
            "kind": "helper" if helper else "request",
            "step": c.origin if helper else None,
            "dynamic": c.dynamic,
        }

    return {
        "job": job.name,
        "source": job.source,
        "devices": [{"name": d.name, "role": d.role} for d in job.devices],
        "roles": {role: [call(c) for c in calls] for role, calls in plan.calls.items()},
        "findings": [{"line": f.line, "text": f.text, "blocking": f.blocking} for f in plan.findings],
    }


def _replay(path: Path, as_json: bool) -> int:
    """A log: print its protocol events. A run's output directory: play its devices back as a group."""
    if not path.exists():
        print(f"serialsync: {path}: no such file or directory", file=sys.stderr)
        return EXIT_USAGE
    if path.is_dir():
        return _replay_run(path, as_json)
    return _replay_log(path, as_json)


def _replay_run(directory: Path, as_json: bool) -> int:
    from .replay import replay_group

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
    from .replay import ReplayError, describe, event_fields, iter_log

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


def _report(paths: list[Path], output: Path | None) -> int:
    """timeline.html of a run's output directory, or of a LAVA MultiNode job's sub-job logs."""
    from .timeline import TIMELINE_FILE, TimelineError, from_lava_logs, from_run, write_timeline

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


def _exit_status(*meanings: tuple[int, str]) -> str:
    lines = [f"  {code:<4} {text}" for code, text in meanings]
    lines += [f"  {EXIT_SIGINT:<4} interrupted by Ctrl-C (SIGINT)", f"  {EXIT_SIGTERM:<4} interrupted by SIGTERM"]
    return "exit status:\n" + "\n".join(lines) + "\n"


def _epilog(examples: str, *meanings: tuple[int, str]) -> str:
    return "examples:\n" + examples.rstrip("\n") + "\n\n" + _exit_status(*meanings)


_BAD_COMMAND_LINE = (EXIT_USAGE, "bad command line")

EPILOGS = {
    "serialsync": _epilog(
        """\
  serialsync demo                          three simulated boards: one server, two clients
  serialsync check job.yaml                the job's sync plan; calls that can never complete
  serialsync run job.yaml -o out/          run a job; results in out/results.json and out/results.xml
  serialsync replay out/server1.console.log   the protocol events in a recorded console
  serialsync replay out/                   play a recorded run back as a group
  serialsync report out/                   out/timeline.html: the run drawn on one time axis
  python -m serialsync run job.yaml        the same without the serialsync script on PATH
  serialsync COMMAND --help                a command's arguments, examples and exit status
""",
        (0, "passed"),
        (EXIT_FAILED, "a device failed, or a check found problems"),
        (EXIT_USAGE, "bad job file or command line"),
    ),
    "run": _epilog(
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
    "check": _epilog(
        """\
  serialsync check job.yaml              the sync plan per role, problems and notes
  serialsync check --json job.yaml       the same as one JSON document
""",
        (0, "no problem found"),
        (EXIT_FAILED, "a call can never complete"),
        (EXIT_USAGE, "bad job file or command line"),
    ),
    "replay": _epilog(
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
    "report": _epilog(
        """\
  serialsync report serialsync-out/pair                 write serialsync-out/pair/timeline.html again
  serialsync report job-1234.1.yaml job-1234.2.yaml     a LAVA MultiNode job's sub-job logs: ./timeline.html
  serialsync report lava-logs/*.yaml -o lab-run.html    the same, written where you say
""",
        (0, "written"),
        (EXIT_FAILED, "the page could not be written"),
        (EXIT_USAGE, "a directory without results.json, a file that is not a LAVA job log, or bad command line"),
    ),
    "groups": _epilog(
        """\
  serialsync groups list redis://redis.lab:6379/0
  serialsync groups clear redis://redis.lab:6379/0 pair
""",
        (0, "done"),
        (EXIT_FAILED, "no such group to clear, or Redis failed"),
        (EXIT_USAGE, "bad URL, group name or command line"),
    ),
    "demo": _epilog(
        """\
  serialsync demo
  serialsync demo -o /tmp/demo --quiet
""",
        (0, "every device passed"),
        (EXIT_FAILED, "a device failed"),
        _BAD_COMMAND_LINE,
    ),
    "helpers": _epilog(
        """\
  serialsync helpers                      the directory of lava-send, lava-sync, ...
  cp "$(serialsync helpers)"/lava-* rootfs/usr/local/bin/
""",
        (0, "printed"),
        (EXIT_FAILED, "the helper files are missing from this installation"),
        _BAD_COMMAND_LINE,
    ),
    "install-helpers": _epilog(
        """\
  serialsync install-helpers /dev/ttyUSB0?baud=115200
  serialsync install-helpers socket://consoles.lab:7001 --dir /tmp/bin --timeout 300
""",
        (0, "installed and verified"),
        (EXIT_FAILED, "the board did not answer, or a file did not verify"),
        (EXIT_USAGE, "bad connection spec or command line"),
    ),
}


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="serialsync",
        description="LAVA MultiNode over serial consoles.",
        epilog=EPILOGS["serialsync"],
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"serialsync {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of:")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, epilog=EPILOGS[name], formatter_class=formatter)

    run = command("run", "run a job file")
    run.add_argument("job", type=Path, help="the job file (YAML: serialsync's or a LAVA MultiNode job)")
    run.add_argument(
        "-o", "--output", type=Path, default=None, help="results directory (default: ./serialsync-out/JOB)"
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress lines, only the result table")
    run.add_argument(
        "--coordinator",
        metavar="URL",
        help="share the group through Redis (redis://, rediss://, unix://) with other hosts running the same job",
    )
    run.add_argument("--group", help="the group's name in Redis (default: the job's name)")
    run.add_argument("--devices", help="comma-separated devices this host runs (default: all)")
    run.add_argument(
        "--force",
        action="store_true",
        help="run even when the plan finds calls that can never complete (they then wait out their timeouts)",
    )
    check = command("check", "print a job's sync plan per role and flag calls that can never complete")
    check.add_argument("job", type=Path, help="the job file to check")
    check.add_argument("--json", action="store_true", help="print the plan as one JSON document (see README)")
    replay = command(
        "replay",
        "print the protocol events in a console log (raw or LAVA YAML), "
        "or play a run's output directory back as a group and compare the host's answers",
    )
    replay.add_argument("log", type=Path, help="a console log, or the output directory of `serialsync run`")
    replay.add_argument(
        "--json", action="store_true", help="print the events, or each device's verdict, as JSON (see README)"
    )
    report = command(
        "report",
        "draw a run as one HTML page (timeline.html): a lane per device, its steps and calls, sync rounds, "
        "who released whom, failures; from a run's output directory or from LAVA MultiNode job logs",
    )
    report.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="DIR | LOG",
        help="the output directory of `serialsync run`, or LAVA's YAML job logs, one per sub-job (named by file)",
    )
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="the page to write (default: DIR/timeline.html, or ./timeline.html for LAVA logs)",
    )
    groups = command("groups", "list or clear the groups kept in Redis")
    groups.add_argument("action", choices=["list", "clear"], help="list: every group's name; clear: delete a group")
    groups.add_argument("url", help="redis://, rediss:// or unix:// URL")
    groups.add_argument("group", nargs="?", help="the group to clear")
    demo = command("demo", "run the demo group: one server, two clients, simulated boards")
    demo.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("serialsync-out/demo"),
        help="results directory (default: %(default)s)",
    )
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress lines, only the result table")
    command("helpers", "print the directory holding the board-side helpers")
    install = command("install-helpers", "type the helpers onto a board through its console and verify them there")
    install.add_argument("connection", help="the board's connection spec, as in a job file")
    install.add_argument("--dir", default=DEFAULT_DIR, help=f"where on the board (default {DEFAULT_DIR})")
    install.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the board's shell")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "helpers":
            try:
                print(helpers_dir())
            except FileNotFoundError as e:
                print(f"serialsync: {e}", file=sys.stderr)
                return EXIT_FAILED
            return 0
        if args.command == "install-helpers":
            return _install(args.connection, args.dir, args.timeout)
        if args.command == "demo":
            text = resources.files("serialsync").joinpath("examples/demo.yaml").read_text(encoding="utf-8")
            return _run(parse_job(text, source="demo.yaml"), args.output, args.quiet)
        if args.command == "groups":
            try:
                return _groups(args.action, args.url, args.group)
            except ValueError as e:  # a bad URL or group name
                print(f"serialsync: {e}", file=sys.stderr)
                return EXIT_USAGE
        if args.command == "replay":
            return _replay(args.log, args.json)
        if args.command == "report":
            return _report(args.paths, args.output)
        if args.command == "check":
            return _check(args.job, args.json)
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
            from .coordinator.redis import RedisCoordinator  # redis-py only when asked for

            members = [Member(device=d.name, role=d.role) for d in job.devices]
            try:
                coordinator = RedisCoordinator(members, args.coordinator, group=args.group or job.name)
            except ValueError as e:  # a bad URL or group name: the command line's fault
                print(f"serialsync: --coordinator/--group: {e}", file=sys.stderr)
                return EXIT_USAGE
        return _run(job, args.output or Path("serialsync-out") / job.name, args.quiet, coordinator, only)
    except JobConfigError as e:
        print(f"serialsync: {e}", file=sys.stderr)
        return EXIT_USAGE
    except SerialsyncError as e:
        print(f"serialsync: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:  # Ctrl-C before or after a run: nothing to clean up
        print("serialsync: interrupted", file=sys.stderr)
        return EXIT_SIGINT


if __name__ == "__main__":
    sys.exit(main())
