"""Benchmark 5: what one call of each board helper costs, under dash and busybox sh.

Processes: the helper run once under ``strace -f -e trace=process``, served
by a real Watcher; every distinct PID in the trace is a process it started
(itself included). Time per call: the helper typed at an interactive shell of
the same kind, from typing the line to seeing the output printed after it;
floor: a script that does nothing (``:``) under the same interpreter, typed
the same way. (busybox's interactive line editor sleeps 20 ms after each line
it reads, so busybox's floor is about 20 ms higher than dash's.) Calls that
need the host are answered by a one-board group in which the waited-for
message was already sent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pexpect

from serialsync._resources import helper_files
from serialsync.console import ConsoleSession
from serialsync.coordinator import Member, MemoryCoordinator
from serialsync.protocol import wire
from serialsync.transports.pty import PtyProcessTransport
from serialsync.watcher import Watcher

from .context import Context
from .report import Row

TARGET_PROCESSES = 3
CALLS, QUICK_CALLS = 30, 2
TIMEOUT = 60.0
DEVICE, ROLE = "dev1", "board"
ARGS = {
    "lava-send": ["ip", "ip=10.0.0.1", "note=two words"],
    "lava-sync": ["go"],
    "lava-wait": ["ip"],
    "lava-wait-all": ["ip", ROLE],
    "lava-group": [],
    "lava-role": [],
    "lava-self": [],
    "lava-test-case": ["bench", "--result", "pass"],
}
# The helpers measured: the MultiNode calls and lava-test-case. The other test
# helpers (lava-test-set, -reference, -raise) print one signal each, as
# lava-test-case does; lava-test-raise exits 1 by design.
MEASURED = tuple(ARGS)
# interactive argv, and the interpreter line the helpers get for that shell
SHELLS = {
    "dash": (["dash", "-i"], ["dash"]),
    "busybox": (["busybox", "sh", "-i"], ["busybox", "sh"]),
}


@dataclass(frozen=True)
class Installed:
    shell: str
    bindir: Path
    env: dict[str, str]


def install(shell: str, root: Path) -> Installed:
    """The helpers with their #! pointing at `shell`, so that shell runs them; PATH to match."""
    interpreter = SHELLS[shell][1]
    exe = shutil.which(interpreter[0])
    if exe is None:
        raise FileNotFoundError(f"{interpreter[0]} is not installed")
    bindir = root / f"bin-{shell}"
    bindir.mkdir(parents=True)
    shebang = b"#!" + " ".join([exe, *interpreter[1:]]).encode() + b"\n"
    for source in helper_files():
        text = source.read_bytes()
        if text.startswith(b"#!"):
            text = shebang + text.partition(b"\n")[2]
        (bindir / source.name).write_bytes(text)
        (bindir / source.name).chmod(0o755)
    (bindir / "noop").write_bytes(shebang + b":\n")
    (bindir / "noop").chmod(0o755)
    path = [str(bindir)]
    if shell == "busybox":  # busybox's awk and friends, as on a busybox board
        applets = root / "busybox-applets"
        applets.mkdir()
        for applet in subprocess.run([exe, "--list"], capture_output=True, text=True, check=True).stdout.split():
            (applets / applet).symlink_to(exe)
        path.insert(0, str(applets))
    path.append(os.environ.get("PATH", "/usr/bin:/bin"))
    group_file = root / f"group-{shell}.txt"
    group_file.write_bytes(wire.group_file_text(DEVICE, [(DEVICE, ROLE)]))
    env = {
        "PATH": os.pathsep.join(path),
        "HOME": str(root),
        "ENV": "/dev/null",
        "PS1": "$ ",
        "TERM": "dumb",
        "LANG": "C.UTF-8",
        "LAVA_MULTI_NODE_CACHE": str(root / f"cache-{shell}.txt"),
        "SERIALSYNC_GROUP_FILE": str(group_file),
    }
    return Installed(shell, bindir, env)


def served(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[ConsoleSession, Watcher]:
    """argv on a pty, its markers answered by a one-board group where 'ip' was sent."""
    coordinator = MemoryCoordinator([Member(DEVICE, ROLE)])
    coordinator.send(DEVICE, "ip", {"ip": b"10.0.0.1"})
    transport = PtyProcessTransport(argv, spec=f"bench:{argv[0]}", env=env, cwd=str(cwd))
    watcher = Watcher(DEVICE, coordinator, transport.write, call_timeout=TIMEOUT)
    return ConsoleSession(transport, watcher, timeout=TIMEOUT), watcher


def count_processes(installed: Installed, helper: str, workdir: Path) -> tuple[int, int]:
    """(distinct processes, execve calls) of one call of helper, by strace."""
    trace = workdir / f"trace-{installed.shell}-{helper}.txt"
    strace = ["strace", "-f", "-qq", "-e", "trace=process", "-o", str(trace)]
    argv = [*strace, str(installed.bindir / helper), *ARGS[helper]]
    session, watcher = served(argv, installed.env, workdir)
    try:
        session.expect(pexpect.EOF, timeout=TIMEOUT)
    finally:
        close_watcher = getattr(watcher, "close", None)
        if close_watcher is not None:
            close_watcher()
        session.close()
    text = trace.read_text()
    if "Operation not permitted" in text and "ptrace" in text:
        raise PermissionError("strace cannot trace here (ptrace not permitted)")
    pids = {line.split()[0] for line in text.splitlines() if re.match(r"\d+ ", line)}
    # Successful execs only: a shell looking awk up along PATH fails one execve per directory.
    execs = sum(1 for line in text.splitlines() if "execve" in line and line.rstrip().endswith("= 0"))
    return len(pids), execs


def time_calls(installed: Installed, calls: int, workdir: Path) -> dict[str, list[float]]:
    """Seconds per call, typed at an interactive shell: every helper, and 'noop' (the floor)."""
    session, watcher = served(SHELLS[installed.shell][0], installed.env, workdir)
    times: dict[str, list[float]] = {name: [] for name in (*MEASURED, "noop")}
    n = 0
    try:
        for k in range(calls + 1):  # round 0 warms up
            for name in times:
                n += 1
                command = " ".join([name, *(f"'{a}'" for a in ARGS.get(name, []))])
                typed = time.monotonic()
                session.sendline(f"{command}; printf '__D%s:%s__\\n' {n} \"$?\"")
                session.expect(rb"__D%d:(\d+)__" % n, timeout=TIMEOUT)
                seen = time.monotonic()
                if session.match.group(1) != b"0":
                    raise RuntimeError(f"{name} exited {session.match.group(1).decode()} under {installed.shell}")
                if k:
                    times[name].append(seen - typed)
    finally:
        close_watcher = getattr(watcher, "close", None)
        if close_watcher is not None:
            close_watcher()
        session.close()
    return times


def run(ctx: Context) -> list[Row]:
    calls = QUICK_CALLS if ctx.quick else CALLS
    rows: list[Row] = []
    for shell in SHELLS:
        ctx.progress(f"helpers: {shell}, {calls} calls of each helper, then strace")
        workdir = ctx.workdir / f"helpers-{shell}"
        try:
            installed = install(shell, workdir)
            times = time_calls(installed, calls, workdir)
        except Exception as e:
            rows += [Row.failed(f"helpers.{shell}.{h}", f"{h} ({shell})", e) for h in MEASURED]
            continue
        for helper in MEASURED:
            key, figure = f"helpers.{shell}.{helper}", f"{helper} ({shell})"
            try:
                processes, execs = count_processes(installed, helper, workdir)
            except Exception as e:
                rows.append(Row.failed(key, figure, e))
                continue
            row = Row.timed(
                key,
                f"{figure}: {processes} proc ({execs} exec), time/call",
                times[helper],
                times["noop"],
                floor_label="no-op script",
                target=f"<= {TARGET_PROCESSES} processes",
            )
            row.met = processes <= TARGET_PROCESSES
            row.extra.update(processes=processes, execve=execs)
            rows.append(row)
    return rows
