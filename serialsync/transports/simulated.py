"""A simulated board: ``simulated[:sh|dash|bash|busybox][?login=USER:PASSWORD]``.

A real POSIX shell on a pty on this host, with the DUT helpers on PATH: the
embedded default, what a board's console looks like (an interactive shell,
a tty with echo and canonical line editing), with nothing to wire up. Each
board gets its own directory for its helpers, the files its opener is given
(the group file the caller writes) and its cache file. ``?login=`` makes the
board ask for a login first, as a real one would.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path

from .._resources import helper_files
from ..errors import TransportError
from .pty import SPAWN_LOCK, PtyProcessTransport
from .spec import ConnectionSpec, Scheme, SpecError

SHELLS: dict[str, list[str]] = {
    "sh": ["sh", "-i"],
    "dash": ["dash", "-i"],
    "bash": ["bash", "--norc", "--noprofile", "--noediting", "-i"],
    "busybox": ["busybox", "sh", "-i"],
}
PROMPT = "board$ "
LOGIN_PROMPT = "board login: "
#: in the board's directory: where its helpers read the group (SERIALSYNC_GROUP_FILE) and keep their cache
GROUP_FILE = "lava_multi_node_group.txt"
CACHE_FILE = "lava_multi_node_cache.txt"

_LOGIN_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}\Z")

# A console that asks for a login before its shell, as a real board's getty does.
_LOGIN = """
while :; do
  printf '%s' "$LOGIN_PROMPT"
  IFS= read -r user || exit 1
  stty -echo 2>/dev/null
  printf 'Password: '
  IFS= read -r password || exit 1
  stty echo 2>/dev/null
  printf '\\n'
  if [ "$user" = "$1" ] && [ "$password" = "$2" ]; then shift 2; exec "$@"; fi
  printf 'Login incorrect\\n'
done
"""


class SimulatedBoard(PtyProcessTransport):
    """A shell on a pty in its own directory, workdir.

    ``files`` (name -> bytes) are written into workdir before the shell
    starts (the group file: ``files={GROUP_FILE: text}``).
    ``helpers=False``: a board whose image has no helpers (they get typed in).
    """

    def __init__(
        self,
        *,
        workdir: Path,
        shell: str = "sh",
        files: Mapping[str, bytes] | None = None,
        spec: str = "",
        helpers: bool = True,
        login: tuple[str, str] | None = None,
    ) -> None:
        if shell not in SHELLS:
            raise TransportError(f"{spec or shell}: unknown shell {shell!r} (known: {', '.join(SHELLS)})")
        argv = SHELLS[shell]
        if shutil.which(argv[0]) is None:
            raise TransportError(f"{spec or shell}: {argv[0]!r} is not installed on this host")
        workdir = workdir.resolve()  # PATH and cwd must not depend on where we were started
        self.workdir = workdir
        bindir = workdir / "bin"
        bindir.mkdir(parents=True, exist_ok=True)
        with SPAWN_LOCK:
            for source in helper_files() if helpers else []:
                target = bindir / source.name
                shutil.copyfile(source, target)
                target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        path = [str(bindir)] if helpers else []
        if shell == "busybox":
            path.append(str(_busybox_applets(workdir / "busybox-bin")))
        path.append(os.environ.get("PATH", "/usr/bin:/bin"))
        self.group_file = workdir / GROUP_FILE
        self.cache_file = workdir / CACHE_FILE
        for name, data in (files or {}).items():
            (workdir / _file_name(name)).write_bytes(data)
        env = {
            "PATH": os.pathsep.join(path),
            "HOME": str(workdir),
            "PS1": PROMPT,
            "PS2": "",
            "TERM": "dumb",
            "LANG": "C.UTF-8",
            "LAVA_MULTI_NODE_CACHE": str(self.cache_file),
            "SERIALSYNC_GROUP_FILE": str(self.group_file),
            "LOGIN_PROMPT": LOGIN_PROMPT,
        }
        if login is not None:
            argv = ["sh", "-c", _LOGIN, "login", login[0], login[1], *argv]
        super().__init__(argv, spec=spec or f"simulated:{shell}", env=env, cwd=str(workdir))


def _busybox_applets(directory: Path) -> Path:
    """A directory of busybox applet links, so the board runs busybox's awk, cat, ..."""
    if directory.is_dir():
        return directory
    directory.mkdir(parents=True)
    listing = subprocess.run(["busybox", "--list"], capture_output=True, text=True, check=True).stdout
    busybox = shutil.which("busybox")
    assert busybox is not None
    for applet in listing.split():
        (directory / applet).symlink_to(busybox)
    return directory


def _file_name(name: str) -> str:
    """name, when it is a plain file name: files are placed in the board's directory, nowhere else."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ValueError(f"a file for the board's directory needs a plain file name, not {name!r}")
    return name


def parse(spec: str) -> ConnectionSpec:
    _, _, rest = spec.partition(":")
    shell, _, query = rest.partition("?")
    shell = shell or "sh"
    if shell not in SHELLS:
        raise SpecError(f"unknown shell {shell!r}")
    options: dict[str, object] = {}
    if query:
        # ?login=USER:PASSWORD: the board asks for a login first, as a real one would
        user, colon, password = query.removeprefix("login=").partition(":")
        valid = query.startswith("login=") and colon and _LOGIN_RE.match(user) and _LOGIN_RE.match(password)
        if not valid:
            raise SpecError("the only option is login=USER:PASSWORD (letters, digits, _ . -)")
        options["login"] = (user, password)
    return ConnectionSpec(spec, scheme="simulated", target=shell, options=options)


def open_console(
    connection: ConnectionSpec, *, workdir: Path, files: Mapping[str, bytes], settle: float
) -> SimulatedBoard:
    return SimulatedBoard(
        workdir=workdir,
        shell=connection.target,
        files=files,
        spec=connection.text,
        login=connection.options.get("login"),
    )


SCHEME = Scheme(
    name="simulated",
    prefixes=("simulated:",),
    alone="simulated",
    form="simulated[:" + "|".join(SHELLS) + "][?login=USER:PASSWORD]",
    parse=parse,
    open=open_console,
)

__all__ = ["CACHE_FILE", "GROUP_FILE", "LOGIN_PROMPT", "PROMPT", "SCHEME", "SHELLS", "SimulatedBoard"]
