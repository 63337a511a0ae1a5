"""`serialsync groups`: the groups kept in Redis, listed or cleared."""

from __future__ import annotations

import argparse
import sys

from .common import EXIT_FAILED, EXIT_USAGE, Command, epilog


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["list", "clear"], help="list: every group's name; clear: delete a group")
    parser.add_argument("url", help="redis://, rediss:// or unix:// URL")
    parser.add_argument("group", nargs="?", help="the group to clear")


def _run(args: argparse.Namespace) -> int:
    try:
        return _groups(args.action, args.url, args.group)
    except ValueError as e:  # a bad URL or group name
        print(f"serialsync: {e}", file=sys.stderr)
        return EXIT_USAGE


def _groups(action: str, url: str, group: str | None) -> int:
    from ..coordinator.redis import clear_group, list_groups, redact_url

    if action == "list":
        for name in list_groups(url):
            print(name)
        return 0
    if not group:
        print("serialsync: groups clear needs the group's name", file=sys.stderr)
        return EXIT_USAGE
    deleted = clear_group(url, group)
    if not deleted:
        print(f"serialsync: no group {group!r} at {redact_url(url)}", file=sys.stderr)
        return EXIT_FAILED
    print(f"cleared group {group!r} ({deleted} keys)")
    return 0


GROUPS = Command(
    "groups",
    "list or clear the groups kept in Redis",
    epilog(
        """\
  serialsync groups list redis://redis.lab:6379/0
  serialsync groups clear redis://redis.lab:6379/0 pair
""",
        (0, "done"),
        (EXIT_FAILED, "no such group to clear, or Redis failed"),
        (EXIT_USAGE, "bad URL, group name or command line"),
    ),
    _arguments,
    _run,
)
