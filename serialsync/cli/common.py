"""What every subcommand shares: exit statuses, the help's examples, and how a command is registered."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

EXIT_FAILED = 1  # a device failed
EXIT_USAGE = 2  # bad command line or job file
EXIT_SIGINT = 128 + 2  # interrupted by Ctrl-C
EXIT_SIGTERM = 128 + 15  # interrupted by SIGTERM
BAD_COMMAND_LINE = (EXIT_USAGE, "bad command line")


@dataclass(frozen=True)
class Command:
    """A subcommand: its name and help, its arguments, and what it does (returns the exit status)."""

    name: str
    help: str
    epilog: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def exit_status(*meanings: tuple[int, str]) -> str:
    lines = [f"  {code:<4} {text}" for code, text in meanings]
    lines += [f"  {EXIT_SIGINT:<4} interrupted by Ctrl-C (SIGINT)", f"  {EXIT_SIGTERM:<4} interrupted by SIGTERM"]
    return "exit status:\n" + "\n".join(lines) + "\n"


def epilog(examples: str, *meanings: tuple[int, str]) -> str:
    return "examples:\n" + examples.rstrip("\n") + "\n\n" + exit_status(*meanings)
