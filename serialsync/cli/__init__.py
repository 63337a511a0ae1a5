"""Command line: `serialsync run | check | replay | report | groups | demo | helpers | install-helpers`.

Argument handling and output formats only; each subcommand is a module of
its own, registered in COMMANDS. `python -m serialsync` runs main().
"""

from __future__ import annotations

import argparse
import logging
import sys

from .. import __version__
from ..errors import JobConfigError, SerialsyncError
from .check import CHECK
from .common import EXIT_FAILED, EXIT_SIGINT, EXIT_SIGTERM, EXIT_USAGE, Command, epilog
from .groups import GROUPS
from .helpers import HELPERS, INSTALL_HELPERS
from .replay import REPLAY
from .report import REPORT
from .run import DEMO, RUN

__all__ = ["COMMANDS", "EXIT_FAILED", "EXIT_SIGINT", "EXIT_SIGTERM", "EXIT_USAGE", "build_parser", "main"]

COMMANDS: tuple[Command, ...] = (RUN, CHECK, REPLAY, REPORT, GROUPS, DEMO, HELPERS, INSTALL_HELPERS)

_EPILOG = epilog(
    """\
  serialsync demo                          three simulated boards: one server, two clients
  serialsync check job.yaml                the job's sync plan; calls that can never complete
  serialsync run job.yaml -o out/          run a job; results in out/results.json and out/results.xml
  serialsync replay out/server1.console.log   the protocol events in a recorded console
  serialsync replay out/                   play a recorded run back as a group
  serialsync report out/                   out/timeline.html: the run drawn on one time axis
  python -m serialsync run job.yaml        the same without the serialsync script on PATH
  serialsync COMMAND --help                a command's arguments, examples and exit status
""",
    (0, "passed"),
    (EXIT_FAILED, "a device failed, or a check found problems"),
    (EXIT_USAGE, "bad job file or command line"),
)


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="serialsync", description="LAVA MultiNode over serial consoles.", epilog=_EPILOG, formatter_class=formatter
    )
    parser.add_argument("--version", action="version", version=f"serialsync {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of:")
    for command in COMMANDS:
        own = sub.add_parser(
            command.name, help=command.help, description=command.help, epilog=command.epilog, formatter_class=formatter
        )
        command.arguments(own)
        own.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except JobConfigError as e:
        print(f"serialsync: {e}", file=sys.stderr)
        return EXIT_USAGE
    except SerialsyncError as e:
        print(f"serialsync: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:  # Ctrl-C before or after a run: nothing to clean up
        print("serialsync: interrupted", file=sys.stderr)
        return EXIT_SIGINT
