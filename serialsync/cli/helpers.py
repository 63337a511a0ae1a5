"""`serialsync helpers` and `serialsync install-helpers`: the board-side helpers, where they are, onto a board."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from .._resources import helpers_dir
from ..console import ConsoleSession
from ..coordinator import Member, MemoryCoordinator
from ..install import DEFAULT_DIR, install_helpers
from ..job.board import wait_ready
from ..transports import open_transport
from ..watcher import Watcher
from .common import BAD_COMMAND_LINE, EXIT_FAILED, EXIT_USAGE, Command, epilog


def _where(_args: argparse.Namespace) -> int:
    try:
        print(helpers_dir())
    except FileNotFoundError as e:
        print(f"serialsync: {e}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _install_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("connection", help="the board's connection spec, as in a job file")
    parser.add_argument("--dir", default=DEFAULT_DIR, help=f"where on the board (default {DEFAULT_DIR})")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the board's shell")


def _install_run(args: argparse.Namespace) -> int:
    return _install(args.connection, args.dir, args.timeout)


def _install(spec: str, directory: str, timeout: float) -> int:
    with tempfile.TemporaryDirectory(prefix="serialsync-") as workdir:
        transport = open_transport(spec, workdir=Path(workdir))
        # A watcher's keyboard types while this thread reads the echo, as in a job: a
        # write nobody reads the echo of meanwhile can block for good on a pty.
        watcher = Watcher("board", MemoryCoordinator([Member("board", "solo")]), transport.write)
        try:
            session = ConsoleSession(transport, watcher, timeout=timeout)
            wait_ready(session, timeout)
            shown = lambda text: print(text, flush=True)  # noqa: E731  a line per file as it is verified
            install_helpers(session, directory=directory, timeout=timeout, progress=shown)
        finally:
            watcher.close()
            transport.close()
    print(f"helpers installed; on the board: export PATH={directory}:$PATH")
    return 0


HELPERS = Command(
    "helpers",
    "print the directory holding the board-side helpers",
    epilog(
        """\
  serialsync helpers                      the directory of lava-send, lava-sync, ...
  cp "$(serialsync helpers)"/lava-* rootfs/usr/local/bin/
""",
        (0, "printed"),
        (EXIT_FAILED, "the helper files are missing from this installation"),
        BAD_COMMAND_LINE,
    ),
    lambda _parser: None,
    _where,
)
INSTALL_HELPERS = Command(
    "install-helpers",
    "type the helpers onto a board through its console and verify them there",
    epilog(
        """\
  serialsync install-helpers /dev/ttyUSB0?baud=115200
  serialsync install-helpers socket://consoles.lab:7001 --dir /tmp/bin --timeout 300
""",
        (0, "installed and verified"),
        (EXIT_FAILED, "the board did not answer, or a file did not verify"),
        (EXIT_USAGE, "bad connection spec or command line"),
    ),
    _install_arguments,
    _install_run,
)
