"""A run's stop button, pressed by Ctrl-C or SIGTERM (a cancelled CI job).

Pressing it once stops the run cleanly: each device of this host leaves the
group with the reason (so its pending calls are answered ``nack`` and other
hosts hear of it), running steps are interrupted on the boards with ^C, and
the results are written. What it does is registered by the runner; the
signal handler itself only presses it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator

from .._time import Deadline


class Interrupt:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reason: str | None = None
        self._actions: list[Callable[[str], None]] = []

    @property
    def reason(self) -> str | None:
        """Why the run was interrupted; None while it was not."""
        with self._lock:
            return self._reason

    def on_press(self, action: Callable[[str], None]) -> None:
        """Call ``action(reason)`` when pressed (at once if it already was)."""
        with self._lock:
            reason = self._reason
            if reason is None:
                self._actions.append(action)
        if reason is not None:
            action(reason)

    def press(self, reason: str) -> bool:
        """Stop the run, saying why; False if it was pressed before (the first reason holds).

        The actions run on a thread of their own: a signal handler must not
        wait for a lock its own thread may hold, nor for the network.
        """
        with self._lock:
            if self._reason is not None:
                return False
            self._reason = reason
            actions, self._actions = self._actions, []
        threading.Thread(target=_run_all, args=(actions, reason), name="interrupt", daemon=True).start()
        return True


def _run_all(actions: list[Callable[[str], None]], reason: str) -> None:
    for action in actions:
        action(reason)


SIGNAL_NAMES = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}


@contextlib.contextmanager
def stop_on_signals(interrupt: Interrupt, say: Callable[[str], None]) -> Iterator[Callable[[], int | None]]:
    """While inside, SIGINT and SIGTERM press *interrupt*; a second one stops the process at once.

    Yields a function giving the exit status the signal asks for (128 + its
    number: 130, 143), or None while none came. Only from the main thread.
    """
    received: list[int] = []

    def handle(signum: int, _frame: object) -> None:
        received.append(signum)
        if len(received) > 1:
            say("serialsync: stopping at once; the boards' consoles are closed without cleaning up")
            kill_children()
            os._exit(128 + received[0])
        say(
            f"serialsync: {SIGNAL_NAMES.get(signum, f'signal {signum}')}: stopping the run "
            "(steps interrupted, calls answered, results written); press Ctrl-C again to stop at once"
        )
        interrupt.press(f"run interrupted by {SIGNAL_NAMES.get(signum, f'signal {signum}')}")

    previous = {signum: signal.signal(signum, handle) for signum in SIGNAL_NAMES}
    try:
        yield lambda: 128 + received[0] if received else None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def kill_children() -> None:
    """End every process this one started, and every process in the sessions they lead.

    Console commands and simulated boards run in sessions of their own (on a
    pty): killing only the direct child would leave what a step started.
    """
    me = os.getpid()
    children = [pid for pid, ppid in _processes() if ppid == me]
    sessions = set()
    for pid in children:
        with contextlib.suppress(OSError):
            sid = os.getsid(pid)
            if sid != os.getsid(0):
                sessions.add(sid)
    killed = []
    for pid, _ in _processes():
        with contextlib.suppress(OSError):
            if pid != me and (pid in children or os.getsid(pid) in sessions):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    # SIGKILL is delivered asynchronously: exiting before they are dead could leave
    # one running a moment after "stopped". Bounded: a process in the kernel's
    # uninterruptible sleep would not go at once.
    deadline = Deadline.after(2.0)
    for pid in killed:
        with contextlib.suppress(ChildProcessError, OSError):
            if pid in children:
                os.waitpid(pid, 0)  # ours to reap
        while _running(pid) and not deadline.expired:
            threading.Event().wait(0.01)


def _running(pid: int) -> bool:
    """Alive and not a zombie (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _processes() -> list[tuple[int, int]]:
    """(pid, parent pid) of every process (Linux /proc; empty elsewhere)."""
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
                found.append((int(entry), int(fields[1])))
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
    return found
