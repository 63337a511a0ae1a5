"""Run a Job: every device concurrently, its actions on its console, results kept.

Each device runs on its own thread: open its connection, then its actions
(job/device.py) while its Watcher answers the markers its steps print. A
device that finishes or fails leaves the group, so calls that depended on
it fail at once instead of at their timeout.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pexpect

from .._time import Deadline, RunClock
from ..console import ConsoleSession
from ..coordinator import Coordinator, Member, MemoryCoordinator
from ..errors import CoordinatorError, SerialsyncError
from ..keyboard import make_pacer
from ..protocol import Request, wire
from ..serving import API_NAMES, CallRecord, blocks
from ..timeline import write_run_timeline
from ..transports import Transport, open_transport
from ..transports.simulated import GROUP_FILE
from ..watcher import Watcher
from .board import wait_ready
from .device import BOARD_DIR, DeviceRun, never_ran
from .interrupt import Interrupt
from .model import Device, Job
from .records import ConsoleLogs, TestSignals, write_junit
from .results import DeviceResult, JobResult, StepResult

__all__ = ["DeviceResult", "JobResult", "Reporter", "StepResult", "run_job", "wait_ready"]


def _error_reason(error: BaseException) -> str:
    # pexpect's messages run on for many lines (its whole state): the first says what happened.
    lines = str(error).strip().splitlines()
    if isinstance(error, pexpect.TIMEOUT):
        return f"the board did not answer in time ({lines[0] if lines else 'no detail'})"
    if isinstance(error, pexpect.EOF):
        return "the console closed"
    return lines[0] if lines else "failed with no message"


def _depart(job: Job, device: Device, coordinator: Coordinator, result: DeviceResult) -> None:
    """The device leaves the group; a failure that ends the group (job option, essential role) ends it."""
    if result.reason and job.ends_group(device):
        coordinator.end_group(device.name, result.reason)
    else:
        coordinator.leave(device.name, result.reason or "finished its steps")


def _blocking_started(reporter: Reporter, device: Device, request: Request) -> None:
    if blocks(request):
        api = API_NAMES[type(request)]
        reporter.call_started(device, api, getattr(request, "message_id", None), getattr(request, "role", None))



class Reporter:
    """Progress callbacks; the default does nothing."""

    def device_event(self, device: Device, text: str) -> None: ...

    def call_started(self, device: Device, api: str, message_id: str | None, role: str | None = None) -> None:
        """A blocking call (sync, wait, wait-all) began: the device waits in it until call_done."""

    def call_done(self, device: Device, record: CallRecord) -> None: ...

    def group_event(self, text: str) -> None:
        """Something about the whole group (it is stuck, say); "" when that no longer holds."""


TransportWrapper = Callable[[Device, Transport], Transport]


def run_job(
    job: Job,
    outdir: Path,
    *,
    reporter: Reporter | None = None,
    coordinator: Coordinator | None = None,
    wrap_transport: TransportWrapper | None = None,
    only: set[str] | None = None,
    interrupt: Interrupt | None = None,
) -> JobResult:
    """Run the devices of *job* on this host: all of them, or those named in *only*.

    With *only*, the other devices run on other hosts, sharing *coordinator*
    (e.g. a RedisCoordinator for the same group); wrap_transport may put a hop
    (e.g. faults) in front of each console. Pressing *interrupt* stops the run
    cleanly: the devices leave the group, steps are interrupted, results written.
    """
    unknown = sorted((only or set()) - {d.name for d in job.devices})
    if unknown:
        raise ValueError(f"no device named {', '.join(unknown)} in job {job.name!r}")
    outdir.mkdir(parents=True, exist_ok=True)
    reporter = reporter or Reporter()
    members = [Member(device=d.name, role=d.role) for d in job.devices]
    clock = RunClock()
    group_events: list[dict] = []

    def group_event(text: str) -> None:  # kept for the timeline, then reported
        group_events.append({"start": round(clock.offset(clock.now()), 3), "text": text})
        reporter.group_event(text)

    if coordinator is None:
        coordinator = MemoryCoordinator(members, on_stuck=group_event)
    else:
        coordinator.report_stuck_to(group_event)  # Redis: devices on other hosts are named too
    deadline = Deadline.after(job.timeouts.job)
    interrupt = interrupt or Interrupt()
    local = [d for d in job.devices if only is None or d.name in only]
    # A shared group (Redis) from an earlier run that did not end may hold our devices as gone.
    gone = {name: why for name, why in coordinator.departed().items() if name in {d.name for d in local}}
    if gone:
        listed = "; ".join(f"{name} ({why})" for name, why in gone.items())
        raise CoordinatorError(
            f"the group already holds {listed} as gone: this run already ended on another host, or "
            "an earlier run of the group has not ended; clear it (serialsync groups clear URL GROUP) "
            "or use another --group"
        )
    results = [DeviceResult(name=d.name, role=d.role, connection=d.connection) for d in local]
    last_lines: dict[str, str] = {}  # device -> its console's last line, for timeout reports
    def leave_all(reason: str) -> None:
        # Each device leaves: its pending calls are answered nack, other hosts hear it,
        # and its steps see that it was made to leave and are interrupted with ^C.
        for device in local:
            try:
                coordinator.leave(device.name, reason)
            except CoordinatorError:
                pass  # Redis gone: the local runners still stop on the interrupt itself

    interrupt.on_press(leave_all)
    context = _DeviceContext(job, coordinator, outdir, deadline, reporter, wrap_transport, last_lines, clock, interrupt)
    threads = [
        threading.Thread(
            target=_run_device,
            args=(context, device, result),
            name=f"device-{device.name}",
            daemon=True,
        )
        for device, result in zip(local, results, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    coordinator.close()
    ended = clock.now()
    overall = "pass" if all(r.result == "pass" for r in results) else "fail"
    if interrupt.reason is not None:
        overall = "interrupted"
        for r in results:
            r.result = "interrupted" if r.result != "pass" else r.result
    job_result = JobResult(
        job=job.name,
        result=overall,
        duration=ended - clock.start,
        devices=results,
        interrupted=interrupt.reason or "",
        hostname=socket.gethostname(),
        group_events=group_events,
        **clock.span(clock.start, ended),  # type: ignore[arg-type]
    )
    (outdir / "results.json").write_text(job_result.to_json() + "\n", encoding="utf-8")
    write_junit(job_result, outdir / "results.xml")
    write_run_timeline(outdir)  # timeline.html; a failure is logged, never fails the run
    return job_result


@dataclass
class _DeviceContext:
    """What every device's thread of one run shares."""

    job: Job
    coordinator: Coordinator
    outdir: Path
    deadline: Deadline
    reporter: Reporter
    wrap_transport: TransportWrapper | None
    last_lines: dict[str, str]  # device -> its console's last line, for timeout reports
    clock: RunClock
    interrupt: Interrupt


def _run_device(context: _DeviceContext, device: Device, result: DeviceResult) -> None:
    job, coordinator, outdir, reporter, clock = (
        context.job, context.coordinator, context.outdir, context.reporter, context.clock,
    )  # fmt: skip
    last_lines = context.last_lines
    started = clock.now()
    log_path = outdir / f"{device.name}.console.log"
    result.console_log = str(log_path)
    members = [(m.device, m.role) for m in coordinator.members]
    watcher: Watcher | None = None
    run: DeviceRun | None = None
    records: list[CallRecord] = []  # the board's calls and the host's own requests, in order
    by_host: set[int] = set()  # id() of the records that are the host's own requests
    missing_seen: dict[int, dict[str, str]] = {}

    def record(call: CallRecord) -> None:
        records.append(call)
        if not call.ok:
            # Name what each device the call waited for was last doing: its last console line.
            seen = {name: last_lines.get(name, "(not on this host)") for name in call.missing}
            if seen:
                missing_seen[len(records) - 1] = seen
        reporter.call_done(device, call)

    def board_call(call: CallRecord) -> None:  # a call the board's helper made, served by the watcher
        record(call)
        if run is not None:
            run.board_call(call)

    try:
        with open(log_path, "wb") as raw_log, open(outdir / f"{device.name}.console.timestamped.log", "wb") as stamped:

            signals = TestSignals()

            def on_line(line: str) -> None:
                last_lines[device.name] = line
                if (case := signals.feed(line)) is not None:
                    now = clock.now()
                    result.test_cases.append({**case, **clock.span(now, now)})

            console_log = ConsoleLogs(raw_log, stamped, started, on_line=on_line)
            transport = open_transport(
                device.connection,
                workdir=outdir / device.name,
                files={GROUP_FILE: wire.group_file_text(device.name, members)},  # where a simulated board reads it
                connect_timeout=job.timeouts.connect,
                on_retry=lambda text: reporter.device_event(device, text),
            )
            try:
                for note in getattr(transport, "notes", ()):
                    reporter.device_event(device, note)  # e.g. a serial port without low-latency mode
                if context.wrap_transport is not None:
                    transport = context.wrap_transport(device, transport)
                watcher = Watcher(
                    device.name,
                    coordinator,
                    transport.write,
                    call_timeout=job.timeouts.call,
                    pacer=make_pacer(device.pacing, device.character_delay),
                    on_call=board_call,
                    on_request=lambda _name, request: _blocking_started(reporter, device, request),
                    retries=False,  # only while one of its steps runs: see DeviceRun
                )
                if hasattr(transport, "on_reconnect"):  # a serial port that may vanish and come back
                    transport.on_reconnect = watcher.console_reconnected
                session = ConsoleSession(transport, watcher, logfile_read=console_log)
                reporter.device_event(device, f"connected ({device.connection})")
                run = DeviceRun(
                    job,
                    device,
                    coordinator,
                    session,
                    context.deadline,
                    event=lambda text: reporter.device_event(device, text),
                    record=lambda call: (by_host.add(id(call)), record(call)),
                    started=lambda api, mid, role: reporter.call_started(device, api, mid, role),
                    clock=clock,
                    interrupted=lambda: context.interrupt.reason,
                    # A simulated board is a shell on this host: its own directory, not the host's /tmp.
                    board_dir=str((outdir / device.name).resolve())
                    if device.connection.startswith("simulated")
                    else BOARD_DIR,
                )
                try:
                    run.run()
                finally:
                    result.steps = run.steps
                    result.test_cases = sorted(result.test_cases + run.test_cases, key=lambda c: c["start"])
                    result.reason = run.reason
                if not result.reason:
                    result.result = "pass"
            except (SerialsyncError, pexpect.ExceptionPexpect, OSError) as e:
                result.reason = result.reason or _error_reason(e)
                raise
            finally:
                # The group hears first (why, or that the device is done), then the console closes.
                _depart(job, device, coordinator, result)
                if watcher is not None:
                    watcher.close()
                    watcher.flush(2.0)
                transport.close()
                console_log.close()
    except (SerialsyncError, pexpect.ExceptionPexpect, OSError) as e:
        result.reason = result.reason or _error_reason(e)
        result.result = "fail"
        _depart(job, device, coordinator, result)  # a no-op if it already left
    finally:
        if run is None:
            result.steps = never_ran(job, device, result.reason or "the device did not start")
        result.calls = [
            {
                **{k: v for k, v in asdict(c).items() if k != "finished"},
                **clock.span(c.finished - c.waited, c.finished),
                "kind": "request" if id(c) in by_host else "helper",
                **({"last_console_lines": missing_seen[i]} if i in missing_seen else {}),
            }
            for i, c in enumerate(records)
        ]
        if watcher is not None:
            result.dropped = dict(watcher.parser.stats)
            if result.dropped:
                # What the console garbled, said once per device (the counts are in results.json too).
                counts = ", ".join(f"{n} {what}" for what, n in sorted(result.dropped.items()))
                reporter.device_event(device, f"console input not acted on: {counts}")
        ended = clock.now()
        result.duration = ended - started
        for key, value in clock.span(started, ended).items():
            setattr(result, key, value)
        verdict = "passed" if result.result == "pass" else f"FAILED: {result.reason}"
        if result.result != "pass" and context.interrupt.reason is not None:
            verdict = f"interrupted: {result.reason}"
        reporter.device_event(device, verdict)
