"""Benchmark 6: host CPU and memory per device for a large group, idle and syncing.

Host = this process (the shells are other processes and are not counted).
CPU is process CPU time (every thread); memory is resident set size from
/proc/self/status. Idle: every board at its prompt, every device thread in
expect() reading its console, for a fixed window. Syncing: CPU per device per
lava-sync round against the same for an echo round (the floor). Console log
length: every board prints 256 KiB, then 1 MiB, while its device thread
waits for the line after it, as a job step's output; the host's Python heap
peak (tracemalloc) must not grow with it (peak RSS growth is noted too).
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from pathlib import Path

from .boards import BoardGroup, with_status
from .context import Context
from .report import Row

SIZE, QUICK_SIZE = 256, 8
ROUNDS, QUICK_ROUNDS = 5, 2
IDLE_SECONDS, QUICK_IDLE_SECONDS = 5.0, 0.5
LOG_BYTES, QUICK_LOG_BYTES = 256 << 10, 16 << 10  # printed per board, then four times as much
TARGET_IDLE_MS = 0.1  # CPU ms per second per device: no polling
# Heap peak with a 4x longer console log. Not 1.0: every device thread's reads hold up
# to maxread (64 KiB) at a time, so the peak carries a few MiB that depend on how many
# reads overlap; memory that grew with the log would show about 4x.
TARGET_LOG_RATIO = 1.5
LINE = b"[%12d] %0180d\r\n" % (0, 0)  # what each printf of the log loop prints, as the pty delivers it


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak_rss() -> bool:
    """Restart VmHWM from the current RSS (Linux: write 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def run(ctx: Context) -> list[Row]:
    size = QUICK_SIZE if ctx.quick else SIZE
    try:
        return measure(ctx, size)
    except Exception as e:
        return [Row.failed(key, f"{text} ({size} boards)", e) for key, text in FIGURES.items()]


FIGURES = {
    "scale.rss": "scale: host RSS per device",
    "scale.idle": "scale: host CPU per device, idle",
    "scale.sync": "scale: host CPU per device per sync round",
    "scale.log": "scale: host memory peak, 4x console log vs 1x",
}


def measure(ctx: Context, size: int) -> list[Row]:
    quick = ctx.quick
    ctx.progress(f"scale: opening {size} boards")
    before = status_kib("VmRSS")
    with BoardGroup(size, ctx.workdir / "scale") as group:
        opened = status_kib("VmRSS")
        rows = [
            Row(
                "scale.rss",
                f"{FIGURES['scale.rss']} ({size} boards)",
                unit="KiB",
                median=(opened - before) / size,
                note=f"RSS {before} KiB before opening the group, {opened} KiB with it open and idle",
                extra={"rss_before_kib": before, "rss_open_kib": opened},
            )
        ]
        rows.append(idle_row(ctx, group, QUICK_IDLE_SECONDS if quick else IDLE_SECONDS))
        rows.append(sync_row(ctx, group, QUICK_ROUNDS if quick else ROUNDS))
        rows.append(log_row(ctx, group, QUICK_LOG_BYTES if quick else LOG_BYTES))
    return rows


def idle_row(ctx: Context, group: BoardGroup, seconds: float) -> Row:
    ctx.progress(f"scale: idle for {seconds:g} s")
    waiting = [group.submit(b, None, rb"__IDLE_END__", timeout=seconds + 120) for b in group.boards]
    cpu, wall = time.process_time(), time.monotonic()
    time.sleep(seconds)  # the measured window itself, not synchronisation
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    for board in group.boards:
        board.session.sendline("printf '__IDLE%s__\\n' _END")
    for future in waiting:
        future.result()
    per_device = cpu / wall / group.size * 1e3
    return Row(
        "scale.idle",
        f"{FIGURES['scale.idle']} ({group.size} boards)",
        unit="ms/s",
        median=per_device,
        target=f"<= {TARGET_IDLE_MS} ms CPU/s (no polling)",
        met=per_device <= TARGET_IDLE_MS,
        note=f"{cpu * 1e3:.1f} ms of host CPU in {wall:.1f} s with every device thread in expect()",
    )


def sync_row(ctx: Context, group: BoardGroup, rounds: int) -> Row:
    ctx.progress(f"scale: {rounds} echo and sync rounds")
    echo_cpu, sync_cpu, sync_wall = [], [], []
    group.sync_round(0)
    for k in range(1, rounds + 1):
        cpu = time.process_time()
        group.echo_round(k)
        echo_cpu.append((time.process_time() - cpu) / group.size)
        cpu = time.process_time()
        sync_wall.append(group.sync_round(k))
        sync_cpu.append((time.process_time() - cpu) / group.size)
    row = Row.timed(
        "scale.sync", f"{FIGURES['scale.sync']} ({group.size} boards)", sync_cpu, echo_cpu, floor_label="echo round"
    )
    latency = statistics.median(sync_wall) * 1e3
    row.note = f"host CPU per device and round; the rounds' median latency was {latency:.0f} ms"
    return row


def log_pass(group: BoardGroup, per_board: int, k: int) -> tuple[int, int, int]:
    """Every board prints per_board bytes: (Python heap peak, peak RSS growth, bytes read by the host)."""
    lines = per_board // len(LINE)
    loop = f"i=0; while [ $i -lt {lines} ]; do printf '[%12d] %0180d\\n' 0 0; i=$((i+1)); done"
    command, pattern = with_status(loop, "L", k)
    gc.collect()
    peak_ok = reset_peak_rss()
    rss = status_kib("VmRSS")
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        group.run_all(command, lambda i: pattern)
        heap = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    grown = (status_kib("VmHWM" if peak_ok else "VmRSS") - rss) * 1024
    return heap, grown, lines * len(LINE) * group.size


def log_row(ctx: Context, group: BoardGroup, per_board: int) -> Row:
    ctx.progress(f"scale: every board prints {per_board >> 10} KiB, then {4 * per_board >> 10} KiB")
    one, one_rss, one_bytes = log_pass(group, per_board, 1)
    four, four_rss, four_bytes = log_pass(group, 4 * per_board, 2)
    kept = max(len(b.session.before) for b in group.boards)
    buffered = max(b.watcher.parser.buffered for b in group.boards)
    ratio = four / one if one > 0 else None
    return Row(
        "scale.log",
        f"{FIGURES['scale.log']} ({group.size} boards)",
        unit="KiB",
        median=four / 1024,
        floor=one / 1024,
        floor_label=f"{per_board >> 10} KiB per board",
        ratio=ratio,
        target=f"<= {TARGET_LOG_RATIO}x (flat)",
        met=ratio is not None and ratio <= TARGET_LOG_RATIO,
        note=(
            f"tracemalloc peak while every board printed {per_board >> 10} KiB ({one_bytes / 2**20:.1f} MiB in all), "
            f"then {4 * per_board >> 10} KiB ({four_bytes / 2**20:.1f} MiB); peak RSS grew {one_rss >> 20} MiB, "
            f"then {four_rss >> 20} MiB; after it: largest pexpect 'before' {kept >> 10} KiB, "
            f"largest parser buffer {buffered} bytes"
        ),
        extra={"heap_peak": [one, four], "rss_growth": [one_rss, four_rss], "bytes_read": [one_bytes, four_bytes]},
    )
