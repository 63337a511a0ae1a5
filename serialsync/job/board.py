"""What the host does on a board's shell: wait for it, prepare it, log in, type steps.

Every command typed ends with a printf of a marker built from split quotes
(``'__SS%s_%d__'``), so the echo of the typed line can never match the
output that says the command finished.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pexpect

from .._time import Deadline
from ..console import ConsoleSession
from ..errors import TypingFailed
from .model import Device, Job, Login

READY_PROBE_INTERVAL = 3.0  # seconds between "are you there" probes while a board boots
GROUP_CHECK_INTERVAL = 1.0  # seconds between looks at whether the group has ended, during a step
OUTPUT_TAIL = 2000  # bytes of a failed step's output kept in the results

Warn = Callable[[str], None]


@dataclass
class StepResult:
    index: int
    command: str
    result: str  # "pass" | "fail"
    exit_status: int | None
    duration: float
    reason: str = ""
    output_tail: str = ""
    name: str = ""  # the test case: step-N, or DEFINITION-step-N


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
        except (pexpect.TIMEOUT, TypingFailed):  # a booting board may echo nothing yet
            if deadline.expired:
                raise
    if probe > 1:
        session.sendline("echo __SS''READY0__")
        session.expect(rb"__SSREADY0__", timeout=max(1.0, deadline.remaining))


def run_command(session: ConsoleSession, command: str, timeout: float) -> tuple[int, str]:
    """A host-side command on the board's shell: (exit status, output)."""
    session.sendline(f"{command}; printf '__SS%s_%d__\\n' HOST \"$?\"")
    session.expect(rb"__SSHOST_(\d+)__", timeout=timeout)
    return int(session.match.group(1)), bytes(session.before).decode("utf-8", "replace")


def prepare_console(session: ConsoleSession, device: Device, warn: Warn) -> None:
    """Make a real board's console predictable: no line editing, wide, no history expansion, kernel quiet."""
    # Short lines first: a line editor still wraps at 80 columns. Without echo,
    # busybox's shell reads plain lines: no editing, no ESC[6n, 4095-byte lines.
    # Echo pacing needs the echo, so then only the terminal is widened.
    run_command(session, "stty cols 4000" if device.pacing == "echo" else "stty -echo", 30)
    # A line editor may swallow what is typed while it changes mode: resynchronise.
    wait_ready(session, 30)
    # `set +H` alone would abort the line on shells without history expansion.
    # The cache path the helpers use by default, named as on simulated boards,
    # so that one job file's steps work on both.
    run_command(
        session,
        "case $- in *H*) set +H ;; esac; PS2=''; "
        "export LAVA_MULTI_NODE_CACHE=${LAVA_MULTI_NODE_CACHE:-/tmp/lava_multi_node_cache.txt}",
        30,
    )
    status, output = run_command(session, "dmesg -n 1 2>/dev/null; cat /proc/sys/kernel/printk", 30)
    levels = output.split()[-4:] if status == 0 else []
    if not levels or not levels[0].isdigit() or int(levels[0]) > 1:
        warn(f"warning: kernel console log level not lowered ({' '.join(levels) or '?'})")
    if device.kmsg:
        run_command(session, "export SERIALSYNC_KMSG=1", 30)


def failure_pattern(job: Job) -> re.Pattern[bytes] | None:
    if not job.failure_patterns:
        return None
    return re.compile(b"|".join(b"(?:%s)" % p.encode() for p in job.failure_patterns), re.MULTILINE)


def run_step(
    session: ConsoleSession,
    index: int,
    command: str,
    timeout: float,
    failure: re.Pattern[bytes] | None = None,
    expelled: Callable[[], str | None] | None = None,
    name: str = "",
) -> StepResult:
    """Type one step and wait for its exit status, a failure pattern, or the group's end."""
    # A { } group is read whole before it runs, so nothing typed after it is
    # left in the tty for a helper in the step to swallow.
    typed = f"{{\n{command}\n}}; printf '__SS%s_%d:%d__\\n' RC {index} \"$?\""
    session.sendline(typed)
    pattern = re.compile(rb"__SSRC_%d:(\d+)__" % index)
    started = time.monotonic()
    deadline = Deadline.after(timeout)
    patterns = [pattern] + ([failure] if failure else [])

    def failed(reason: str, tail: bytes, status: int | None = None) -> StepResult:
        text = bytes(tail[-OUTPUT_TAIL:]).decode("utf-8", "replace")
        return StepResult(index, command, "fail", status, time.monotonic() - started, reason, text, name)

    try:
        while True:
            # Wake now and then to see whether another device's failure ended
            # the group: a step that makes no call would not notice otherwise.
            wait = deadline.remaining if expelled is None else min(GROUP_CHECK_INTERVAL, deadline.remaining)
            try:
                which = session.expect(patterns, timeout=max(wait, 0.0))
                if which == 1 and _echo_of(typed, bytes(session.before), bytes(session.after)):
                    continue  # the step's own text echoed back (`grep "Kernel panic" ...`), not the board failing
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
    except TypingFailed as e:
        return failed(str(e), session.buffer)
    status = int(session.match.group(1))
    if status == 0:
        return StepResult(index, command, "pass", 0, time.monotonic() - started, name=name)
    return failed(f"exit status {status}", session.before, status)


CONSOLE_WATCH_SLICE = 0.1  # seconds: how soon the end of a host-side call stops the console watch


def watch_console(session: ConsoleSession, done: threading.Event, failure: re.Pattern[bytes] | None) -> str | None:
    """Read the console until done is set: the reason if the board failed meanwhile, else None.

    While the host waits in a group call for a device, its console is still
    read: a board that panics is noticed now, not at the call's timeout; a
    chatty console never fills up and stalls the board; markers are served.
    """
    patterns: list = [pexpect.TIMEOUT] + ([failure] if failure else [])
    while not done.is_set():
        try:
            which = session.expect(patterns, timeout=CONSOLE_WATCH_SLICE)
        except pexpect.EOF:
            return "console closed"
        except TypingFailed:
            continue  # a reply the watcher typed: its own recovery retypes it
        if which == 1:
            return f"board failed: {bytes(session.after).decode('utf-8', 'replace')!r}"
    return None


def _echo_of(typed: str, before: bytes, matched: bytes) -> bool:
    """Is a failure pattern's match the board echoing a line we typed?

    It is when the console's line so far (a prompt maybe, then the echo, which
    echo pacing delivers chunk by chunk) ends with a typed line's text up to
    and including the match.
    """
    line_so_far = before[before.rfind(b"\n") + 1 :] + matched
    for line in typed.encode("utf-8", "replace").split(b"\n"):
        at = line.find(matched)
        while at >= 0:
            typed_part = line[: at + len(matched)]
            # A typed line that starts with the match needs a prompt before it on the
            # console line: a failure printed at the start of a line is not an echo.
            # (Inside a step, PS2 is empty: such a line's echo counts as the failure.)
            if line_so_far.endswith(typed_part) and (at > 0 or len(line_so_far) > len(typed_part)):
                return True
            at = line.find(matched, at + 1)
    return False


def log_in(session: ConsoleSession, login: Login, timeout: float) -> None:
    """Answer a login prompt (and a password prompt) as LAVA's auto_login does."""
    deadline = Deadline.after(timeout)
    session.expect(login.login_prompt.encode(), timeout=deadline.remaining)
    session.sendline(login.username)
    if login.password_prompt:
        session.expect(login.password_prompt.encode(), timeout=deadline.remaining)
        session.sendline(login.password)


def wait_prompt(session: ConsoleSession, prompts: tuple[str, ...], timeout: float) -> None:
    """Until one of the boot action's prompts shows (regular expressions)."""
    session.expect([p.encode() for p in prompts], timeout=timeout)


def shell_assignment(name: str, value: bytes) -> str:
    """``export name=value`` for a board's shell, value as inert data whatever its bytes.

    Printable text goes single-quoted. Anything else is rebuilt on the board
    by printf from octal escapes: a control byte typed raw would be acted on
    by the tty (^C, ^U, ^D) before any shell saw it.
    """
    text = value.decode("utf-8", "replace")
    if text.encode() == value and all(c >= " " and c != "\x7f" for c in text):
        return f"export {name}='" + text.replace("'", "'\\''") + "'"
    escaped = "".join(f"\\{b:03o}" for b in value)
    # $( ) drops trailing newlines; the x keeps them, and is cut off after.
    return f"{name}=\"$(printf '%b' '{escaped}x')\"; export {name}=\"${{{name}%x}}\""
