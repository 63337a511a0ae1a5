"""Shell-helper tests: the real dut-scripts in a real pty, the test playing the host.

Every test runs the helpers under busybox sh (with busybox's applets, awk
above all, first on PATH), dash and bash --posix. The helpers are copied per
shell with only the ``#!`` line changed, so that ``lava-sync`` typed at the
prompt runs under the shell being tested rather than under /bin/sh.

The host side is the project's own protocol code: every byte the pty prints
goes into ``MarkerParser``; request events are answered with
``encode_reply`` and typed back into the pty (``Host`` below, the one host
loop). Nothing waits with sleep: reads and writes are multiplexed with
select() against a deadline.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pexpect
import pytest

from serialsync.protocol import (
    DamagedRequest,
    Discarded,
    LostStarts,
    MarkerParser,
    Reply,
    ReplyReceived,
    Request,
    ResendRequest,
    encode_reply,
    wire,
)

REPO = Path(__file__).resolve().parents[2]
DUT_SCRIPTS = REPO / "dut-scripts"
HELPERS = ("lava-send", "lava-sync", "lava-wait", "lava-wait-all", "lava-group", "lava-role", "lava-self")
TIMEOUT = 20.0  # seconds for one command, generous for a loaded 2-core machine

# name -> (interactive argv, the argument after the shell in the helpers' #! line)
SHELLS = {
    "busybox": (["busybox", "sh", "-i"], "sh"),
    "dash": (["dash", "-i"], ""),
    "bash": (["bash", "--posix", "--norc", "--noprofile", "-i"], "--posix"),
}
# busybox applets put first on PATH under busybox: what the helpers call, and what the tests type.
APPLETS = ("awk", "cat", "rm", "sh", "printf", "touch", "ls", "test", "[")

Answer = Callable[[Request], "Reply | None"]


def shell_path(name: str) -> str:
    exe = shutil.which(SHELLS[name][0][0])
    if exe is None:
        pytest.skip(f"{SHELLS[name][0][0]} is not installed (CI installs busybox, dash and bash)")
    return exe


@dataclass
class Install:
    """The helpers as installed for one shell: PATH and the directory holding them."""

    shell: str
    bindir: Path
    path: str


def install_helpers(shell: str, root: Path) -> Install:
    exe = shell_path(shell)
    bindir = root / f"bin-{shell}"
    bindir.mkdir()
    interpreter = f"{exe} {SHELLS[shell][1]}".rstrip()
    for name in HELPERS:
        text = (DUT_SCRIPTS / name).read_bytes()
        first, _, rest = text.partition(b"\n")
        assert first == b"#!/bin/sh", f"{name}: unexpected first line {first!r}"
        (bindir / name).write_bytes(b"#!" + interpreter.encode() + b"\n" + rest)
        (bindir / name).chmod(0o755)
    for name in ("serialsync.lib", "serialsync.awk"):
        shutil.copyfile(DUT_SCRIPTS / name, bindir / name)
    path = [str(bindir), "/usr/local/bin", "/usr/bin", "/bin"]
    if shell == "busybox":
        applets = root / "busybox-applets"
        applets.mkdir()
        for applet in APPLETS:
            (applets / applet).symlink_to(exe)
        path.insert(0, str(applets))
    return Install(shell, bindir, ":".join(path))


@pytest.fixture(scope="session", params=sorted(SHELLS))
def installed(request, tmp_path_factory) -> Install:
    return install_helpers(request.param, tmp_path_factory.mktemp("helpers"))


@pytest.fixture
def shell_env(installed, tmp_path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": installed.path,
        "HOME": str(home),
        "ENV": "/dev/null",
        "TERM": "dumb",
        "LANG": "C.UTF-8",  # the helpers must switch to bytes themselves
        "PS1": "$ ",
        "PS2": "> ",
        "LAVA_MULTI_NODE_CACHE": str(tmp_path / "cache.txt"),
        "SERIALSYNC_GROUP_FILE": str(tmp_path / "group.txt"),
    }


@dataclass
class Host:
    """The host end of one console: feeds every byte to MarkerParser, answers requests.

    ``answer(request)`` returns the Reply to type (None: type nothing now);
    ``mangle(reply_bytes)`` may damage a first reply on its way. A repeated
    token is answered with the reply already given, RESEND with that reply
    again, undamaged; a damaged marker with the RETRY line, as
    docs/PROTOCOL.md says the host does. A helper's DONE (ReplyReceived:
    it got its whole reply) is recorded in ``confirmed`` and not answered.
    """

    child: pexpect.spawn
    answer: Answer | None = None
    max_line: int = 1000
    mangle: Callable[[bytes], bytes] | None = None
    out: bytearray = field(default_factory=bytearray)
    requests: list[Request] = field(default_factory=list)
    damaged: list[DamagedRequest] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)  # tokens whose helper printed DONE
    discarded: list[Discarded] = field(default_factory=list)
    parser: MarkerParser = field(default_factory=MarkerParser)
    _replies: dict[str, bytes] = field(default_factory=dict)
    _pending: bytearray = field(default_factory=bytearray)
    eof: bool = False

    def __post_init__(self) -> None:
        os.set_blocking(self.child.child_fd, False)

    def type(self, data: bytes) -> None:
        """Queue keystrokes; they are written as the pty takes them, while reading."""
        self._pending += data

    def _handle(self, event) -> None:
        if isinstance(event, LostStarts):
            return  # this host asks again only for damage the parser can name
        if isinstance(event, Discarded):
            self.discarded.append(event)
            return
        if isinstance(event, DamagedRequest):
            self.damaged.append(event)
            self.type(wire.SS_RETRY_LINE)
            return
        if isinstance(event, ReplyReceived):
            self.confirmed.append(event.token)
            return
        self.requests.append(event)
        if isinstance(event, ResendRequest) or event.token in self._replies:
            self.type(self._replies.get(event.token, b""))
            return
        reply = self.answer(event) if self.answer else None
        if reply is None:
            return
        data = encode_reply(event, reply, max_line=self.max_line)
        if event.token is not None:
            self._replies[event.token] = data
        self.type(self.mangle(data) if self.mangle else data)

    def pump(self, timeout: float) -> None:
        """Read what the pty printed and write what is queued, for up to *timeout* seconds."""
        fd = self.child.child_fd
        readable, writable, _ = select.select([fd], [fd] if self._pending else [], [], max(timeout, 0))
        if writable:
            try:
                written = os.write(fd, self._pending[:1024])
            except BlockingIOError:
                written = 0
            del self._pending[:written]
        if readable:
            try:
                data = self.child.read_nonblocking(65536, timeout=0)
            except pexpect.TIMEOUT:
                return
            except pexpect.EOF:
                self.eof = True
                self.parser.receive_data(b"")
                return
            self.out += data
            self.parser.receive_data(data)
            for event in self.parser.events():
                self._handle(event)

    def until(self, pattern: re.Pattern[bytes] | None, start: int = 0, timeout: float = TIMEOUT) -> re.Match | None:
        """Serve the console until *pattern* shows up after *start* (None: until EOF)."""
        deadline = time.monotonic() + timeout
        while True:
            if pattern is not None:
                match = pattern.search(self.out, start)
                if match:
                    return match
            if self.eof:
                if pattern is None:
                    return None
                raise AssertionError(f"console closed before {pattern.pattern!r}; tail: {bytes(self.out[-3000:])!r}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                what = pattern.pattern if pattern is not None else "EOF"
                raise AssertionError(f"timed out waiting for {what!r}; console tail: {bytes(self.out[-3000:])!r}")
            self.pump(min(remaining, 1.0))


@dataclass
class Result:
    rc: int
    console: bytes  # what the pty printed while the command ran (echo included)
    requests: list[Request]
    confirmed: list[str]  # tokens whose helper printed DONE while the command ran, in order


class Board:
    """An interactive shell in a pty with the helpers on PATH: a simulated board."""

    def __init__(self, installed: Install, env: dict[str, str], workdir: Path) -> None:
        self.installed = installed
        self.workdir = workdir
        self.env = env
        argv = SHELLS[installed.shell][0]
        child = pexpect.spawn(argv[0], argv[1:], env=env, cwd=str(workdir), dimensions=(24, 500))
        child.delaybeforesend = None
        self.host = Host(child)
        self._n = 0
        self.run(":")  # the shell is up and reading

    def run(
        self,
        script: bytes | str,
        answer: Answer | None = None,
        *,
        max_line: int = 1000,
        mangle: Callable[[bytes], bytes] | None = None,
        timeout: float = TIMEOUT,
    ) -> Result:
        """Source *script* in the board's shell, serve the console, return its exit status.

        The script goes through a file so that any byte can be in it (a TAB
        typed at an interactive prompt would mean completion); only a short
        ASCII line is typed.
        """
        self._n += 1
        n = self._n
        path = self.workdir / f"cmd{n}.sh"
        path.write_bytes(script.encode() if isinstance(script, str) else script)
        host = self.host
        host.answer, host.max_line, host.mangle = answer, max_line, mangle
        start, first_request, first_confirmed = len(host.out), len(host.requests), len(host.confirmed)
        host.type(f". {path}; printf '__RC%s=%s__\\n' {n} \"$?\"\n".encode())
        match = host.until(re.compile(rb"__RC%d=(\d+)__" % n), start, timeout)
        return Result(
            int(match.group(1)),
            bytes(host.out[start : match.start()]),
            host.requests[first_request:],
            host.confirmed[first_confirmed:],
        )

    def type(self, data: bytes) -> None:
        self.host.type(data)

    def close(self) -> None:
        self.host.child.close(force=True)


@pytest.fixture
def install_for(tmp_path) -> Callable[[str], Install]:
    """install_for(shell): the helpers installed for *shell* in this test's tmp_path."""
    return lambda shell: install_helpers(shell, tmp_path)


@pytest.fixture
def host_for() -> type[Host]:
    """The host loop, for tests that spawn their own pty: host_for(child, answer=...)."""
    return Host


@pytest.fixture
def board(installed, shell_env, tmp_path):
    b = Board(installed, shell_env, tmp_path)
    yield b
    b.close()
