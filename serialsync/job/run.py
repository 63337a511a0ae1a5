"""Run a Job: every device concurrently, steps typed into its console, results kept.

Each device runs on its own thread: open its connection, wait for its shell,
type each step and wait for the step's exit status while its Watcher answers
the markers the step prints. A device that finishes or fails leaves the
group, so calls that depended on it fail at once instead of at their
timeout.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pexpect

from .._time import Deadline
from ..console import ConsoleSession
from ..coordinator import Coordinator, Member, MemoryCoordinator
from ..errors import CoordinatorError, SerialsyncError
from ..install import DEFAULT_DIR, install_helpers
from ..protocol import wire
from ..transports import Transport, open_transport
from ..transports.pacing import make_pacer
from ..watcher import CallRecord, Watcher
from .model import Device, Job
from .records import ConsoleLogs, write_junit

READY_PROBE_INTERVAL = 3.0  # seconds between "are you there" probes while a board boots
GROUP_CHECK_INTERVAL = 1.0  # seconds between looks at whether the group has ended, during a step
OUTPUT_TAIL = 2000  # bytes of a failed step's output kept in the results


@dataclass
class StepResult:
    index: int
    command: str
    result: str  # "pass" | "fail"
    exit_status: int | None
    duration: float
    reason: str = ""
    output_tail: str = ""


@dataclass
class DeviceResult:
    name: str
    role: str
    connection: str
    result: str = "fail"
    reason: str = ""
    duration: float = 0.0
    steps: list[StepResult] = field(default_factory=list)
    calls: list[dict] = field(default_factory=list)
    console_log: str = ""
    dropped: dict[str, int] = field(default_factory=dict)


@dataclass
class JobResult:
    job: str
    result: str
    duration: float
    devices: list[DeviceResult]

    @property
    def passed(self) -> bool:
        return self.result == "pass"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


class Reporter:
    """Progress callbacks; the default does nothing."""

    def device_event(self, device: Device, text: str) -> None: ...

    def call_done(self, device: Device, record: CallRecord) -> None: ...


TransportWrapper = Callable[[Device, Transport], Transport]


def run_job(
    job: Job,
    outdir: Path,
    *,
    reporter: Reporter | None = None,
    coordinator: Coordinator | None = None,
    wrap_transport: TransportWrapper | None = None,
    only: set[str] | None = None,
) -> JobResult:
    """Run the devices of *job* on this host: all of them, or those named in *only*.

    With *only*, the other devices run on other hosts, sharing *coordinator*
    (e.g. a RedisCoordinator for the same group); wrap_transport may put a hop
    (e.g. faults) in front of each console.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    reporter = reporter or Reporter()
    members = [Member(device=d.name, role=d.role) for d in job.devices]
    coordinator = coordinator or MemoryCoordinator(members)
    deadline = Deadline.after(job.timeouts.job)
    started = time.monotonic()
    unknown = sorted((only or set()) - {d.name for d in job.devices})
    if unknown:
        raise ValueError(f"no device named {', '.join(unknown)} in job {job.name!r}")
    local = [d for d in job.devices if only is None or d.name in only]
    results = [DeviceResult(name=d.name, role=d.role, connection=d.connection) for d in local]
    threads = [
        threading.Thread(
            target=_run_device,
            args=(job, device, result, coordinator, outdir, deadline, reporter, wrap_transport),
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
    overall = "pass" if all(r.result == "pass" for r in results) else "fail"
    job_result = JobResult(job=job.name, result=overall, duration=time.monotonic() - started, devices=results)
    (outdir / "results.json").write_text(job_result.to_json() + "\n", encoding="utf-8")
    write_junit(job_result, outdir / "results.xml")
    return job_result


def _run_device(
    job: Job,
    device: Device,
    result: DeviceResult,
    coordinator: Coordinator,
    outdir: Path,
    deadline: Deadline,
    reporter: Reporter,
    wrap_transport: TransportWrapper | None,
) -> None:
    started = time.monotonic()
    log_path = outdir / f"{device.name}.console.log"
    result.console_log = str(log_path)
    members = [(m.device, m.role) for m in coordinator.members]
    watcher: Watcher | None = None
    try:
        with open(log_path, "wb") as raw_log, open(outdir / f"{device.name}.console.timestamped.log", "wb") as stamped:
            console_log = ConsoleLogs(raw_log, stamped, started)
            transport = open_transport(
                device.connection,
                workdir=outdir / device.name,
                group_text=wire.group_file_text(device.name, members),
            )
            if wrap_transport is not None:
                transport = wrap_transport(device, transport)
            try:
                watcher = Watcher(
                    device.name,
                    coordinator,
                    transport.write,
                    call_timeout=job.timeouts.call,
                    pacer=make_pacer(device.pacing, device.character_delay),
                    on_call=lambda record: reporter.call_done(device, record),
                )
                session = ConsoleSession(transport, watcher, logfile_read=console_log)
                reporter.device_event(device, f"connected ({device.connection})")
                wait_ready(session, min(job.timeouts.boot, deadline.remaining))
                if not device.connection.startswith("simulated"):
                    _prepare_console(session, device, reporter)
                if device.install_helpers:
                    files = install_helpers(session, timeout=min(job.timeouts.step, deadline.remaining))
                    reporter.device_event(device, f"helpers installed ({len(files)} files, checksums verified)")
                    _run_command(session, f"export PATH={DEFAULT_DIR}:$PATH", job.timeouts.step)
                steps = job.steps_of(device)
                failure = _failure_pattern(job)

                def expelled() -> str | None:
                    try:
                        return coordinator.departed().get(device.name)
                    except CoordinatorError:
                        return None  # Redis restarting: look again later; the calls wait it out too

                for index, command in enumerate(steps, 1):
                    if (why := expelled()) is not None:
                        result.reason = f"stopped before step {index}: {why}"
                        break
                    reporter.device_event(device, f"step {index}/{len(steps)}: {command.splitlines()[0]}")
                    step = _run_step(
                        session, index, command, min(job.timeouts.step, deadline.remaining), failure, expelled
                    )
                    result.steps.append(step)
                    if step.result != "pass":
                        result.reason = f"step {index} ({command.splitlines()[0]!r}) failed: {step.reason}"
                        reporter.device_event(device, f"step {index} failed: {step.reason}")
                        if job.ends_group(device) and expelled() is None:
                            reporter.device_event(device, "its failure ends the group")
                            coordinator.end_group(device.name, result.reason)
                            break
                        if step.exit_status is None:
                            break  # the console is in an unknown state: stop here
                why = expelled()
                if why is not None and why not in result.reason:
                    result.reason = f"{result.reason or 'stopped'}: {why}"
                if not result.reason:
                    result.result = "pass"
            finally:
                coordinator.leave(device.name, result.reason or "finished its steps")
                if watcher is not None:
                    watcher.close()
                    watcher.flush(2.0)
                transport.close()
                console_log.close()
    except (SerialsyncError, pexpect.ExceptionPexpect, OSError) as e:
        result.reason = result.reason or f"{type(e).__name__}: {e}"
        result.result = "fail"
        if job.ends_group(device):
            coordinator.end_group(device.name, result.reason)
        else:
            coordinator.leave(device.name, result.reason)
    finally:
        if watcher is not None:
            result.calls = [asdict(c) for c in watcher.calls]
            result.dropped = dict(watcher.parser.stats)
        result.duration = time.monotonic() - started
        verdict = "passed" if result.result == "pass" else f"FAILED: {result.reason}"
        reporter.device_event(device, verdict)


def wait_ready(session: ConsoleSession, timeout: float) -> None:
    """Until the board's shell answers.

    A booting board may lose or delay what is typed, so the probe is repeated;
    once one answers, a last probe makes sure every earlier one queued in the
    tty has run, so none is left to be read by a helper later.
    """
    deadline = Deadline.after(timeout)
    probe = 0
    while True:
        probe += 1
        # Split quotes: the echo of the typed line cannot match the output.
        session.sendline(f"echo __SS''READY{probe}__")
        try:
            session.expect(rb"__SSREADY\d+__", timeout=min(READY_PROBE_INTERVAL, deadline.remaining))
            break
        except pexpect.TIMEOUT:
            if deadline.expired:
                raise
    if probe > 1:
        session.sendline("echo __SS''READY0__")
        session.expect(rb"__SSREADY0__", timeout=max(1.0, deadline.remaining))


def _run_command(session: ConsoleSession, command: str, timeout: float) -> tuple[int, str]:
    """A host-side command on the board's shell: (exit status, output)."""
    session.sendline(f"{command}; printf '__SS%s_%d__\\n' HOST \"$?\"")
    session.expect(rb"__SSHOST_(\d+)__", timeout=timeout)
    return int(session.match.group(1)), bytes(session.before).decode("utf-8", "replace")


def _prepare_console(session: ConsoleSession, device: Device, reporter: Reporter) -> None:
    """Make a real board's console predictable: no line editing, wide, no history expansion, kernel quiet."""
    # Short lines first: a line editor still wraps at 80 columns. Without echo,
    # busybox's shell reads plain lines: no editing, no ESC[6n, 4095-byte lines.
    # Echo pacing needs the echo, so then only the terminal is widened.
    _run_command(session, "stty cols 4000" if device.pacing == "echo" else "stty -echo", 30)
    # A line editor may swallow what is typed while it changes mode: resynchronise.
    wait_ready(session, 30)
    # `set +H` alone would abort the line on shells without history expansion.
    # The cache path the helpers use by default, named as on simulated boards,
    # so that one job file's steps work on both.
    _run_command(
        session,
        "case $- in *H*) set +H ;; esac; PS2=''; "
        "export LAVA_MULTI_NODE_CACHE=${LAVA_MULTI_NODE_CACHE:-/tmp/lava_multi_node_cache.txt}",
        30,
    )
    status, output = _run_command(session, "dmesg -n 1 2>/dev/null; cat /proc/sys/kernel/printk", 30)
    levels = output.split()[-4:] if status == 0 else []
    if not levels or not levels[0].isdigit() or int(levels[0]) > 1:
        reporter.device_event(device, f"warning: kernel console log level not lowered ({' '.join(levels) or '?'})")
    if device.kmsg:
        _run_command(session, "export SERIALSYNC_KMSG=1", 30)


def _failure_pattern(job: Job) -> re.Pattern[bytes] | None:
    if not job.failure_patterns:
        return None
    return re.compile(b"|".join(b"(?:%s)" % p.encode() for p in job.failure_patterns), re.MULTILINE)


def _run_step(
    session: ConsoleSession,
    index: int,
    command: str,
    timeout: float,
    failure: re.Pattern[bytes] | None = None,
    expelled: Callable[[], str | None] | None = None,
) -> StepResult:
    """Type one step and wait for its exit status, a failure pattern, or the group's end."""
    # A { } group is read whole before it runs, so nothing typed after it is
    # left in the tty for a helper in the step to swallow.
    session.sendline(f"{{\n{command}\n}}; printf '__SS%s_%d:%d__\\n' RC {index} \"$?\"")
    pattern = re.compile(rb"__SSRC_%d:(\d+)__" % index)
    started = time.monotonic()
    deadline = Deadline.after(timeout)
    patterns = [pattern] + ([failure] if failure else [])

    def failed(reason: str, tail: bytes, status: int | None = None) -> StepResult:
        text = bytes(tail[-OUTPUT_TAIL:]).decode("utf-8", "replace")
        return StepResult(index, command, "fail", status, time.monotonic() - started, reason, text)

    try:
        while True:
            # Wake now and then to see whether another device's failure ended
            # the group: a step that makes no call would not notice otherwise.
            wait = deadline.remaining if expelled is None else min(GROUP_CHECK_INTERVAL, deadline.remaining)
            try:
                which = session.expect(patterns, timeout=max(wait, 0.0))
                break
            except pexpect.TIMEOUT:
                why = expelled() if expelled is not None else None
                if why is not None:
                    session.send(b"\x03")  # interrupt what still runs
                    return failed(f"stopped: {why}", session.buffer)
                if deadline.expired:
                    raise
        if which == 1:
            # The board panicked or rebooted: it is gone, whatever the step does next.
            line = bytes(session.after)
            return failed(f"board failed: {line.decode('utf-8', 'replace')!r}", bytes(session.before) + line)
    except pexpect.TIMEOUT:
        tail = bytes(session.buffer)
        session.send(b"\x03")  # interrupt what still runs
        return failed(f"timed out after {timeout:.0f}s", tail)
    except pexpect.EOF:
        return failed("console closed", session.before)
    status = int(session.match.group(1))
    if status == 0:
        return StepResult(index, command, "pass", 0, time.monotonic() - started)
    return failed(f"exit status {status}", session.before, status)
