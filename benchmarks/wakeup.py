"""Benchmark 2: lava-send on one board -> the lava-wait blocked on another returns.

Latency: from the moment the host parsed the sender's marker to the moment it
saw the waiter's output printed after lava-wait returned. The waiter's marker
is parsed (its call is pending) before the sender is typed at. Floor: the echo
round of the same two boards.
"""

from __future__ import annotations

from .boards import BoardGroup, with_status
from .context import Context
from .report import Row

TARGET_MS = 5.0
ROUNDS = 100
QUICK_ROUNDS = 3
FIGURE = "send -> wait wake-up, 2 boards"


def run(ctx: Context) -> list[Row]:
    rounds = QUICK_ROUNDS if ctx.quick else ROUNDS
    ctx.progress(f"wakeup: {rounds} rounds")
    try:
        floor, wake = measure(ctx, rounds)
    except Exception as e:
        return [Row.failed("wakeup", FIGURE, e)]
    row = Row.timed("wakeup", FIGURE, wake, floor, floor_label="echo round", target=f"median <= {TARGET_MS:g} ms")
    row.met = row.median is not None and row.median <= TARGET_MS
    return [row]


def measure(ctx: Context, rounds: int) -> tuple[list[float], list[float]]:
    floor: list[float] = []
    wake: list[float] = []
    with BoardGroup(2, ctx.workdir / "wakeup") as group:
        waiter, sender = group.boards
        group.echo_round(0)
        for k in range(rounds + 1):  # round 0 warms up
            floor_k = group.echo_round(k)
            message_id = f"w{k}"
            waiting = group.submit(waiter, *with_status(f"lava-wait {message_id}", "W", k))
            group.requests.wait("WaitRequest", message_id, waiter.name, group.timeout)
            sent = group.submit(sender, *with_status(f"lava-send {message_id} v={k}", "S", k))
            _, woke, match = waiting.result()
            _, _, sent_match = sent.result()
            if match.group(1) != b"0" or sent_match.group(1) != b"0":
                statuses = f"lava-wait exit {match.group(1)!r}, lava-send exit {sent_match.group(1)!r}"
                raise RuntimeError(f"round {k}: {statuses}")
            send = group.requests.find("SendRequest", message_id, sender.name)[0]
            if k:
                floor.append(floor_k)
                wake.append(woke - send.at)
    return floor, wake
