"""python -m benchmarks [--quick] [--only NAME ...] [--json PATH]: run, print the table, save JSON."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from . import helper_cost, install_rate, redis_backend, scale, scan, sync_latency, typing_rate, uart, wakeup
from .context import Context
from .report import Row, format_table, write_json

BENCHMARKS: dict[str, Callable[[Context], list[Row]]] = {
    "sync": sync_latency.run,
    "wakeup": wakeup.run,
    "uart": uart.run,
    "typing": typing_rate.run,
    "install": install_rate.run,
    "scan": scan.run,
    "helpers": helper_cost.run,
    "scale": scale.run,
    "redis": redis_backend.run,
}
DEFAULT_JSON = Path("serialsync-out/bench/results.json")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="serialsync's benchmarks (issue 6): each figure with a floor measured in the same run.",
    )
    parser.add_argument("--quick", action="store_true", help="few repetitions and small groups (the smoke test)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only these (repeat or comma-separate): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH", help=f"default: {DEFAULT_JSON}")
    args = parser.parse_args(argv)
    names = [n.strip() for item in args.only or [] for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    args.names = names or list(BENCHMARKS)
    return args


def run_here(name: str, quick: bool) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix=f"serialsync-bench-{name}-") as scratch:
        return BENCHMARKS[name](Context(quick=quick, workdir=Path(scratch)))


def run_isolated(name: str, quick: bool) -> list[Row]:
    """One benchmark in its own process: another's memory and threads must not skew its RSS and CPU."""
    with tempfile.TemporaryDirectory(prefix="serialsync-bench-") as scratch:
        out = Path(scratch) / "rows.json"
        path = [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, path))}
        command = [sys.executable, "-m", "benchmarks", "--only", name, "--json", str(out), *(["--quick"] * quick)]
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
        if not out.is_file():
            tail = done.stdout.strip().splitlines()[-1:] or [""]
            return [Row.failed(name, name, RuntimeError(f"exit status {done.returncode}: {tail[0]}"))]
        names = {f.name for f in dataclasses.fields(Row)}
        return [Row(**{k: v for k, v in row.items() if k in names}) for row in json.loads(out.read_text())["rows"]]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The product logs what it drops and retries; here that is noise around the table.
    logging.basicConfig(level=logging.ERROR, format="%(name)s: %(message)s")
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    clock = time.monotonic()
    rows: list[Row] = []
    for name in args.names:
        rows += run_here(name, args.quick) if len(args.names) == 1 else run_isolated(name, args.quick)
    seconds = time.monotonic() - clock
    print(format_table(rows))
    write_json(rows, args.json, quick=args.quick, started=started, seconds=seconds)
    print(f"\n{len(rows)} rows in {seconds:.0f} s; JSON: {args.json}")
    return 1 if any(r.errored for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
