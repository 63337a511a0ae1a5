"""Stand-in boards for the example: a busybox shell behind a socat pty per board, helpers on PATH.

Started only when LG_SERIALSYNC_BOARDS is not set (set it to a directory of
real ports, or edit env.yaml, to use real boards). Before labgrid's own
plugin reads env.yaml, which it does last.
"""

import os
import select
import shutil
import subprocess
import tempfile
import time

from serialsync._resources import helper_files  # the helpers as installed with serialsync

BOARDS = ("server1", "client1", "client2")
_started: list[subprocess.Popen] = []


def pytest_configure(config):
    if os.environ.get("LG_SERIALSYNC_BOARDS"):
        return
    directory = tempfile.mkdtemp(prefix="serialsync-labgrid-example-")
    config.add_cleanup(lambda: shutil.rmtree(directory, ignore_errors=True))
    os.environ["LG_SERIALSYNC_BOARDS"] = directory
    helpers = os.path.join(directory, "bin")
    os.mkdir(helpers)
    for source in helper_files():
        shutil.copy(source, helpers)
    for name in BOARDS:
        home = os.path.join(directory, f"{name}.home")
        os.mkdir(home)
        env = {
            "PATH": f"{helpers}:{os.environ['PATH']}",
            "PS1": "board$ ",
            "HOME": home,
            "TERM": "dumb",
            "LAVA_MULTI_NODE_CACHE": os.path.join(home, "lava_multi_node_cache.txt"),
            "SERIALSYNC_GROUP_FILE": os.path.join(home, "lava_multi_node_group.txt"),
        }
        link = os.path.join(directory, name)
        proc = subprocess.Popen(
            ["socat", "-d", "-d", f"PTY,link={link},raw,echo=0", "EXEC:busybox sh -i,pty,stderr,setsid,ctty,sane"],
            env=env, cwd=home, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        _started.append(proc)
        seen, deadline = b"", time.monotonic() + 10
        while b"starting data transfer loop" not in seen:  # socat says so once the pty exists
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([proc.stderr], [], [], left)[0]:
                raise RuntimeError(f"socat did not start for {name}: {seen!r}")
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                raise RuntimeError(f"socat exited for {name}: {seen!r}")
            seen += chunk


def pytest_unconfigure(config):
    for proc in _started:
        proc.terminate()
        proc.wait(10)
        proc.stderr.close()
