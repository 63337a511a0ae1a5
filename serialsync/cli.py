"""Command line: `serialsync run | demo | helpers | install-helpers`. Argument handling only."""

from __future__ import annotations

import argparse
import logging
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
from .job.model import Device, Job
from .job.plan import sync_plan
from .job.run import wait_ready
from .status import LiveStatus
from .transports import open_transport
from .watcher import CallRecord

EXIT_FAILED = 1  # a device failed
EXIT_USAGE = 2  # bad command line or job file


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
    try:
        result = run_job(job, outdir, reporter=reporter, coordinator=coordinator, only=only)
    except ValueError as e:
        print(f"serialsync: {e}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if isinstance(reporter, LiveStatus):
            reporter.stop()
    print_table(result)
    print(f"results: {outdir / 'results.json'}; console logs: {outdir}/<device>.console.log")
    return 0 if result.passed else EXIT_FAILED


def _groups(action: str, url: str, group: str | None) -> int:
    from .coordinator.redis import clear_group, list_groups

    if action == "list":
        for name in list_groups(url):
            print(name)
        return 0
    if not group:
        print("serialsync: groups clear needs the group's name", file=sys.stderr)
        return EXIT_USAGE
    clear_group(url, group)
    print(f"cleared group {group!r}")
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


def _replay(log: Path) -> int:
    """A log: print its protocol events. A run's output directory: play its devices back as a group."""
    from .replay import describe, replay_group, replay_log

    if log.is_dir():
        import json

        results = json.loads((log / "results.json").read_text(encoding="utf-8"))
        members = [(d["name"], d["role"], log / f"{d['name']}.console.log") for d in results["devices"]]
        played = replay_group(members)
        for device in played:
            board = device.board
            verdict = "ok" if device.passed else "DIFFERS"
            end = "" if device.finished else ", recording not played to its end"
            print(f"{device.name}: {board.answered}/{board.pauses} requests answered{end}: {verdict}")
            for mismatch in board.mismatches:
                print(f"  {mismatch}")
        return 0 if all(d.passed for d in played) else EXIT_FAILED
    found = replay_log(log)
    for item in found:
        where = f"{log}:{item.line}" if item.line else f"{log}:EOF"
        print(f"{where}: {describe(item.event)}")
    print(f"{len(found)} events")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="serialsync", description="LAVA MultiNode over serial consoles.")
    parser.add_argument("--version", action="version", version=f"serialsync {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a job file")
    run.add_argument("job", type=Path)
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
    groups = sub.add_parser("groups", help="list or clear the groups kept in Redis")
    groups.add_argument("action", choices=["list", "clear"])
    groups.add_argument("url", help="redis://, rediss:// or unix:// URL")
    groups.add_argument("group", nargs="?", help="the group to clear")
    demo = sub.add_parser("demo", help="run the demo group: one server, two clients, simulated boards")
    demo.add_argument("-o", "--output", type=Path, default=Path("serialsync-out/demo"))
    demo.add_argument("-q", "--quiet", action="store_true")
    sub.add_parser("helpers", help="print the directory holding the board-side helpers")
    install = sub.add_parser(
        "install-helpers", help="type the helpers onto a board through its console and verify them there"
    )
    install.add_argument("connection", help="the board's connection spec, as in a job file")
    install.add_argument("--dir", default=DEFAULT_DIR, help=f"where on the board (default {DEFAULT_DIR})")
    install.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the board's shell")
    check = sub.add_parser("check", help="print a job's sync plan per role and flag calls that can never complete")
    check.add_argument("job", type=Path)
    replay = sub.add_parser(
        "replay",
        help="print the protocol events in a console log (raw or LAVA YAML), "
        "or play a run's output directory back as a group and compare the host's answers",
    )
    replay.add_argument("log", type=Path, help="a console log, or the output directory of `serialsync run`")
    args = parser.parse_args(argv)
    level = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "helpers":
            print(helpers_dir())
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
            return _replay(args.log)
        if args.command == "check":
            plan = sync_plan(load_job(args.job))
            print(plan.render())
            return 1 if plan.problems else 0
        job = load_job(args.job)
        # The plan's findings before any board is touched: a wait nobody will answer shows now.
        findings = sync_plan(job).findings
        for finding in findings:
            kind = "problem" if finding.blocking else "note"
            print(f"serialsync: {kind}: {job.source}:{finding.line or '?'}: {finding.text}", file=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(main())
