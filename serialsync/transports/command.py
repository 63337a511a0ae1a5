"""A console reached through a command: ``cmd:COMMAND [ARGS...]`` (or ``command:...``).

The command (``telnet 127.0.0.1 7001``, ``conmux-console board``,
``qemu-system-x86_64 ... -serial stdio``, socat) runs on a pty through
pexpect, as it would in a terminal. The text is split as a POSIX shell would
(shlex), but no shell runs it. Its pty is put in raw mode before it starts:
we are not a human at a terminal, so the local tty must not echo, turn
``\\n`` into ``\\r\\n`` or make ^C a signal. Programs that set their own
terminal modes (telnet, qemu) do so on top of that. The console is at EOF
when the command exits; its exit status is kept.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from .pty import PtyProcessTransport
from .spec import ConnectionSpec, Scheme, SpecError


class CommandTransport(PtyProcessTransport):
    def __init__(
        self,
        argv: Sequence[str],
        *,
        spec: str,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        columns: int = 4000,
    ) -> None:
        super().__init__(argv, spec=spec, env=env, cwd=cwd, columns=columns, raw=True)


def parse(spec: str) -> ConnectionSpec:
    _, _, rest = spec.partition(":")
    try:
        argv = shlex.split(rest)
    except ValueError as e:
        raise SpecError(f"cannot split the command ({e})") from None
    if not argv:
        raise SpecError("an empty command")
    return ConnectionSpec(spec, scheme="cmd", target=rest.strip(), options={"argv": tuple(argv)})


def open_console(
    connection: ConnectionSpec, *, workdir: Path, files: Mapping[str, bytes], settle: float
) -> CommandTransport:
    return CommandTransport(connection.options["argv"], spec=connection.text)


SCHEME = Scheme(
    name="cmd",
    prefixes=("cmd:", "command:"),
    form="cmd:COMMAND [ARGS...] (or command:...)",
    parse=parse,
    open=open_console,
)

__all__ = ["SCHEME", "CommandTransport"]
