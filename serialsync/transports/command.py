"""A console reached through a command: ``cmd:telnet 127.0.0.1 7001``.

The command (telnet, conmux-console, ``qemu ... -serial stdio``, socat) runs
on a pty through pexpect, as it would in a terminal. Its pty is put in raw
mode before it starts: we are not a human at a terminal, so the local tty
must not echo, turn ``\\n`` into ``\\r\\n`` or make ^C a signal. Programs that
set their own terminal modes (telnet, qemu) do so on top of that. The
console is at EOF when the command exits; its exit status is kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .pty import PtyProcessTransport


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
