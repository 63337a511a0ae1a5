"""Benchmark 7: one lava-sync round of 8 boards split over two host processes sharing a Redis group.

Each process runs 4 simulated boards with a RedisCoordinator on the same
group; the parent types `lava-sync` on its 4 while the child does on its 4.
Latency: from the last marker parsed by either host to the last helper seen
returned on either (CLOCK_MONOTONIC is one clock for every process). Floor:
the round trip of a Redis PING from this host, measured in the same run.
"""

from __future__ import annotations

import multiprocessing
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

from .boards import BoardGroup, with_status
from .context import Context
from .report import Row

FIGURE = "sync, 8 boards over 2 hosts (Redis)"
TARGET_MS = 15.0
ROUNDS = 40
QUICK_ROUNDS = 3
HALF = 4


def run(ctx: Context) -> list[Row]:
    target = f"median <= {TARGET_MS:g} ms"
    try:
        import redis  # noqa: F401
    except ImportError:
        return [Row("redis.sync", FIGURE, unit="", target=target, status="n/a (the redis client is not installed)")]
    server = shutil.which("redis-server")
    if server is None:
        return [Row("redis.sync", FIGURE, unit="", target=target, status="n/a (redis-server not installed)")]
    rounds = QUICK_ROUNDS if ctx.quick else ROUNDS
    ctx.progress(f"redis: 2 hosts x {HALF} boards, {rounds} rounds")
    try:
        floor, sync = measure(ctx, server, rounds)
    except Exception as e:
        return [Row.failed("redis.sync", FIGURE, e)]
    row = Row.timed("redis.sync", FIGURE, sync, floor, floor_label="Redis PING", target=target)
    row.met = row.median is not None and row.median <= TARGET_MS
    return [row]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _coordinator_for(url: str, group: str):
    from serialsync.coordinator.redis import RedisCoordinator

    return lambda members: RedisCoordinator(members, url, group=group)


def _sync_on(group: BoardGroup, k: int) -> tuple[float, float]:
    """Type lava-sync on this host's boards: (last marker parsed here, last helper seen returned here)."""
    group.requests.clear()
    command, pattern = with_status("lava-sync r", "R", k)
    seen = group.run_all(command, lambda i: pattern)
    if any(m.group(1) != b"0" for _, _, m in seen):
        raise RuntimeError(f"lava-sync failed in round {k}")
    markers = group.requests.find("SyncRequest", "r")
    return max(s.at for s in markers), max(s for _, s, _ in seen)


def _other_host(url: str, name: str, root: str, rounds: int, pipe) -> None:
    with BoardGroup(
        2 * HALF, Path(root), coordinator_for=_coordinator_for(url, name), local=range(HALF, 2 * HALF)
    ) as group:
        pipe.send("ready")
        for k in range(rounds + 1):
            pipe.recv()  # "go": both hosts type at once
            pipe.send(_sync_on(group, k))


def measure(ctx: Context, server: str, rounds: int) -> tuple[list[float], list[float]]:
    import redis

    port = _free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    name = f"bench{uuid.uuid4().hex[:8]}"
    try:
        client = redis.Redis.from_url(url)
        started = time.monotonic()
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() - started > 10:
                    raise
            try:  # the pause before the next PING also notices a server that died
                raise RuntimeError(f"redis-server exited with {proc.wait(timeout=0.05)}")
            except subprocess.TimeoutExpired:
                pass
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe()
        child = context.Process(
            target=_other_host, args=(url, name, str(ctx.workdir / "redis-b"), rounds, child_end), daemon=True
        )
        child.start()
        floor: list[float] = []
        sync: list[float] = []
        with BoardGroup(
            2 * HALF, ctx.workdir / "redis-a", coordinator_for=_coordinator_for(url, name), local=range(HALF)
        ) as group:
            if not parent_end.poll(120) or parent_end.recv() != "ready":
                raise RuntimeError("the second host did not start")
            for k in range(rounds + 1):  # round 0 warms up
                started = time.perf_counter()
                client.ping()
                ping = time.perf_counter() - started
                parent_end.send("go")
                here = _sync_on(group, k)
                if not parent_end.poll(120):
                    raise RuntimeError(f"the second host did not finish round {k}")
                there = parent_end.recv()
                if k:
                    floor.append(ping)
                    sync.append(max(here[1], there[1]) - max(here[0], there[0]))
        child.join(30)
        return floor, sync
    finally:
        proc.kill()
        proc.wait()
