"""A group over lossy consoles, both ways, from the first typed byte: what arrives, what is lost.

    python -m benchmarks.faults [--rounds 84] [--rate 1e-2] [--pacing echo|none] [--seed 1]

Four boards (busybox, dash, bash, dash) each run one step typed through a
hop that drops, changes, doubles and adds bytes at ``rate`` per byte (a
quarter each), in both directions, from the first byte typed. Each round is
a sync, a send and a wait-all (3 calls a board). Printed: calls served,
nacks, values wrong or missing, lines the boards' shells refused (a garbled
line run), boards left blocked, and the time per call. The CI test runs a
few rounds of it; the full run (>= 1000 calls) is this script.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pexpect

from serialsync._time import Deadline
from serialsync.console import ConsoleSession
from serialsync.coordinator import Member, MemoryCoordinator
from serialsync.errors import SerialsyncError
from serialsync.keyboard import EchoPacer, Pacer
from serialsync.protocol import wire
from serialsync.transports import SimulatedBoard
from serialsync.transports.faulty import Faults, FaultyTransport
from serialsync.transports.simulated import GROUP_FILE
from serialsync.watcher import CallRecord, Watcher

SHELLS = ("busybox", "dash", "bash", "dash")
VALUE = "a b>c=d:e 'q' \"dq\" $(reboot) `id`; é"
# What a shell says about a line it could not run: a garbled command reached it.
REFUSED = re.compile(rb"not found|syntax error|unexpected|bad substitution|unterminated|No such file")


@dataclass
class FaultRun:
    boards: int
    rounds: int
    calls: int = 0  # served by the watchers (each once)
    nacks: int = 0
    wrong_values: int = 0  # values a wait-all delivered that differ from what was sent (or are missing)
    refused_lines: int = 0  # lines a board's shell refused: garbled commands run
    blocked: list[str] = field(default_factory=list)  # boards whose step never finished
    seconds: float = 0.0
    repairs: int = 0  # chunks or lines the pacers erased and typed again
    injected: dict[str, int] = field(default_factory=dict)
    nack_reasons: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # what a shell said about a line it refused, in context
    tails: dict[str, bytes] = field(default_factory=dict)  # the last bytes each console showed
    wrong: list[str] = field(default_factory=list)  # values that arrived other than sent

    @property
    def per_call_ms(self) -> float:
        return 1000 * self.seconds / max(1, self.calls)

    def summary(self) -> str:
        return (
            f"{self.boards} boards, {self.rounds} rounds: {self.calls} calls, {self.nacks} nacks, "
            f"{self.wrong_values} values wrong, {self.refused_lines} garbled lines run, "
            f"{len(self.blocked)} boards left blocked, {self.per_call_ms:.1f} ms per call, "
            f"{self.repairs} repairs, faults injected {self.injected}"
        )


def script(rounds: int) -> str:
    """One step, as a definition's lines: rounds of sync, send, wait-all; then the board says it is done.

    Typed as short lines, as steps are: a line's odds of crossing such a link
    whole fall with its length (at 1e-2 both ways, a 200-byte line has about
    four faults a pass), and only a whole line is ever handed over. After
    the last call the console is read and dropped, as a job's step does
    while it waits for the go-ahead: a reply typed again (its confirmation
    was lost) or a retry line then reaches no shell.
    """
    quoted = "'" + VALUE.replace("'", "'\\''") + "'"
    return "\n".join(
        [
            "i=0",
            f"while [ $i -lt {rounds} ]; do",
            "i=$((i+1))",
            "lava-sync r$i",
            f'lava-send v$i "x=$(lava-self) "{quoted}',
            "lava-wait-all v$i",
            # One command with the loop: a line typed ahead of a running loop is read by
            # its helpers (they drop what is not their reply), not by the shell after it.
            'done; echo "STEP-DONE-$i"; cat >/dev/null',
        ]
    )


@contextlib.contextmanager
def reading(sessions: list[ConsoleSession], seen: list[bytearray]) -> Iterator[None]:
    """Read every console on its own thread (their markers are answered) and keep what was read."""
    stop = threading.Event()

    def pump(session: ConsoleSession, into: bytearray) -> None:
        while not stop.is_set():
            try:
                into += session.read_nonblocking(4096, 0.2)
            except pexpect.TIMEOUT:
                continue
            except (pexpect.EOF, SerialsyncError):
                return

    threads = [threading.Thread(target=pump, args=pair, daemon=True) for pair in zip(sessions, seen, strict=True)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)


def fault_run(
    workdir: Path,
    *,
    rounds: int,
    rate: float = 1e-2,
    pacing: str = "echo",
    seed: int = 1,
    shells: tuple[str, ...] = SHELLS,
    timeout: float = 600.0,
) -> FaultRun:
    names = [f"d{i}" for i in range(len(shells))]
    coordinator = MemoryCoordinator([Member(n, "peer") for n in names])
    each = rate / 4
    faults = Faults(drop=each, change=each, duplicate=each, insert=each)
    hops: list[FaultyTransport] = []
    watchers: list[Watcher] = []
    sessions: list[ConsoleSession] = []
    pacers: list[Pacer] = []
    finished = {name: threading.Event() for name in names}

    def on_call(record: CallRecord) -> None:
        # A board is done when its last wait-all was served.
        if record.api == "lava-wait-all" and record.message_id == f"v{rounds}":
            finished[record.device].set()

    for i, (name, shell) in enumerate(zip(names, shells, strict=True)):
        board = SimulatedBoard(
            workdir=workdir / name,
            shell=shell,
            files={GROUP_FILE: wire.group_file_text(name, [(n, "peer") for n in names])},
        )
        # Faults from the first byte typed, both ways.
        hop = FaultyTransport(board, to_board=faults, from_board=faults, seed=seed * 100 + i)
        pacer = EchoPacer() if pacing == "echo" else Pacer()
        watcher = Watcher(
            name, coordinator, hop.write, call_timeout=timeout, ack_timeout=1.0, pacer=pacer, on_call=on_call
        )
        hops.append(hop)
        watchers.append(watcher)
        pacers.append(pacer)
        sessions.append(ConsoleSession(hop, watcher, timeout=5))
    run = FaultRun(boards=len(names), rounds=rounds)
    seen = [bytearray() for _ in sessions]
    started = time.monotonic()
    try:
        with reading(sessions, seen):
            for session in sessions:
                session.sendline(script(rounds))
            # The run's own budget: a call may take `timeout`, and a lossy round a while.
            deadline = Deadline.after(2 * timeout + 20 * rounds)
            for name in names:
                if not finished[name].wait(max(deadline.remaining, 0.0)):
                    run.blocked.append(name)
            run.seconds = time.monotonic() - started
            for watcher in watchers:
                watcher.flush(30)
    finally:
        for watcher, session in zip(watchers, sessions, strict=True):
            watcher.close()
            session.close()
    for watcher in watchers:
        run.calls += len(watcher.calls)
        run.nacks += sum(not c.ok for c in watcher.calls)
        run.nack_reasons += [f"{c.device} {c.api} {c.message_id}: {c.reason}" for c in watcher.calls if not c.ok]
    for i in range(1, rounds + 1):
        try:
            data = coordinator.wait(names[0], f"v{i}", Deadline.after(0.01))
        except SerialsyncError:
            run.wrong_values += len(names)
            continue
        want = {n: {"x": f"{n} {VALUE}".encode()} for n in names}
        for n in names:
            if data.get(n) != want[n]:
                run.wrong_values += 1
                run.wrong.append(f"v{i} from {n}: {data.get(n)!r}")
    for name, text in zip(names, seen, strict=True):
        run.tails[name] = bytes(text[-600:])
        for found in REFUSED.finditer(bytes(text)):
            run.refused_lines += 1
            context = bytes(text)[max(0, found.start() - 160) : found.end() + 40]
            run.refusals.append(f"{name}: {context!r}")
    run.repairs = sum(getattr(p, "repairs", 0) for p in pacers)
    for hop in hops:
        for kind, count in hop.injected.items():
            run.injected[kind] = run.injected.get(kind, 0) + count
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=84, help="rounds of sync, send, wait-all (84: 1008 calls)")
    parser.add_argument("--rate", type=float, default=1e-2, help="faults per byte, each way")
    parser.add_argument("--pacing", choices=("echo", "none"), default="echo")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a call (and the whole run) may take")
    args = parser.parse_args(argv)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="serialsync-faults-") as scratch:
        run = fault_run(
            Path(scratch), rounds=args.rounds, rate=args.rate, pacing=args.pacing, seed=args.seed, timeout=args.timeout
        )
    print(f"pacing {args.pacing}, {args.rate:g} per byte both ways: {run.summary()}")
    for reason in run.nack_reasons[:10]:
        print(f"  nack: {reason}")
    for wrong in run.wrong[:10]:
        print(f"  wrong value: {wrong}")
    for refusal in run.refusals[:10]:
        print(f"  refused: {refusal}")
    for name in run.blocked:
        print(f"  {name} blocked; its console ended with: {run.tails[name]!r}")
    ok = not (run.wrong_values or run.refused_lines or run.blocked)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
