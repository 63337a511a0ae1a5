"""A simulated board: a real POSIX shell on a pty, with the helpers on PATH.

The embedded default: what a board's console looks like (an interactive
shell, a tty with echo and canonical line editing), on this machine, with
nothing to wire up. Each board gets its own directory for its helpers, its
group file and its cache file.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from .._resources import helper_files
from ..errors import TransportError
from .pty import SPAWN_LOCK, PtyProcessTransport

SHELLS: dict[str, list[str]] = {
    "sh": ["sh", "-i"],
    "dash": ["dash", "-i"],
    "bash": ["bash", "--norc", "--noprofile", "--noediting", "-i"],
    "busybox": ["busybox", "sh", "-i"],
}
PROMPT = "board$ "
LOGIN_PROMPT = "board login: "

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
    def __init__(
        self,
        *,
        workdir: Path,
        shell: str = "sh",
        group_text: bytes | None = None,
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
        # helpers=False: a board whose image has no helpers (they get typed in).
        with SPAWN_LOCK:
            for source in helper_files() if helpers else []:
                target = bindir / source.name
                shutil.copyfile(source, target)
                target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        path = [str(bindir)] if helpers else []
        if shell == "busybox":
            path.append(str(_busybox_applets(workdir / "busybox-bin")))
        path.append(os.environ.get("PATH", "/usr/bin:/bin"))
        self.group_file = workdir / "lava_multi_node_group.txt"
        self.cache_file = workdir / "lava_multi_node_cache.txt"
        if group_text is not None:
            self.group_file.write_bytes(group_text)
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
