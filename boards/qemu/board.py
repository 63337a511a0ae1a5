"""An emulated serial-console board for tests: qemu-system-x86_64 (software
emulation) booting a Debian kernel and a busybox initramfs, reached only
through its emulated UART (ttyS0), like a real board behind a console server.

    board_dir = ensure_built(Path("~/.cache/serialsync/qemu-board"))
    with QemuBoard(board_dir, name="dut1") as board:
        sock = board.connect()          # or open board.spec with pyserial
        ...                             # the guest starts when a client connects

The serial port is a qemu socket chardev with ``server=on,wait=on``: qemu
does not start the guest until a client has connected, so no console output
is ever lost. TCP (the default) listens on a port of 127.0.0.1 that qemu
picks itself (``port=0``, so no race for a free port) with ``nodelay=on``;
``serial="unix"`` uses a unix socket instead. Every byte the board prints is
also kept in ``transcript_path``.

Standard library only. The board is built by ``build-board.sh`` beside this
file (see README.md there).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

__all__ = [
    "DEFAULT_CMDLINE",
    "INSTALL_HINT",
    "QemuBoard",
    "QemuBoardError",
    "build_complete",
    "ensure_built",
    "qemu_available",
]

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build-board.sh"
QEMU = os.environ.get("SERIALSYNC_QEMU", "qemu-system-x86_64")  # the binary; override for tests
INSTALL_HINT = "CI installs it: apt-get install qemu-system-x86 cpio xz-utils"
ARTEFACTS = ("vmlinux", "vmlinuz", "initramfs.cpio.gz", "board.info")
BUILD_TOOLS = ("apt-get", "apt-cache", "dpkg-deb", "tar", "xz", "gzip", "cpio", "od", "sha256sum")

# console=ttyS0,115200 must be the first console= option (the first one wins;
# plain ttyS0 means 9600 baud, which costs about 4 ms per short input).
# quiet loglevel=0: no kernel lines in the shell's output. panic=-1 with
# -no-reboot: if init dies, qemu exits. The rest only shortens the boot.
DEFAULT_CMDLINE = (
    "console=ttyS0,115200 quiet loglevel=0 panic=-1 mitigations=off tsc=reliable cryptomgr.notests 8250.nr_uarts=1"
)

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
_READY_RE = re.compile(rb"waiting for connection on: disconnected:(?:tcp:[^,\s]*:(\d+)|unix:)")

# boards not yet closed, closed at interpreter exit at the latest
_live: set[QemuBoard] = set()


class QemuBoardError(RuntimeError):
    """qemu could not be started, or the board could not be built."""


def build_complete(build_dir: str | os.PathLike[str]) -> bool:
    """True if build_dir holds every artefact of a finished build."""
    d = Path(build_dir).expanduser()
    return all((d / f).is_file() and (d / f).stat().st_size > 0 for f in ARTEFACTS)


def qemu_available(build_dir: str | os.PathLike[str] | None = None) -> str | None:
    """None if a board can be built and booted here, else the reason why not.

    With build_dir holding a complete build, only qemu itself is needed.
    """
    if shutil.which(QEMU) is None:
        return f"{QEMU} not installed; {INSTALL_HINT}"
    if build_dir is not None and build_complete(build_dir):
        return None
    for tool in BUILD_TOOLS:
        if shutil.which(tool) is None:
            return f"'{tool}' not installed (needed to build the board); {INSTALL_HINT}"
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=False).stdout.strip()
    if arch != "amd64":
        return f"the board is built from amd64 Debian packages, and this machine's dpkg architecture is {arch!r}"
    probe = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", "linux-image-amd64", "busybox-static"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return "apt has no package lists for linux-image-amd64 / busybox-static here: run 'apt-get update'"
    return None


def ensure_built(
    build_dir: str | os.PathLike[str],
    *,
    deb_cache: str | os.PathLike[str] | None = None,
    timeout: float = 900,
) -> Path:
    """Run build-board.sh on build_dir (once: it does nothing on a complete
    build) and return the directory. A file lock beside build_dir serialises
    concurrent callers, e.g. parallel pytest workers."""
    out = Path(build_dir).expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if deb_cache is not None:
        env["DEB_CACHE"] = str(Path(deb_cache).expanduser().resolve())
    with open(out.parent / f".{out.name}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        started = time.monotonic()
        try:
            res = subprocess.run(
                ["sh", str(BUILD_SCRIPT), str(out)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise QemuBoardError(f"{BUILD_SCRIPT} {out} took longer than {timeout} s") from e
    if res.returncode != 0:
        raise QemuBoardError(f"{BUILD_SCRIPT} {out} failed (exit status {res.returncode}):\n{res.stdout}")
    log.info("board build (%.1f s):\n%s", time.monotonic() - started, res.stdout.rstrip())
    return out


def _qemu_path(p: Path) -> str:
    """A path as a qemu option value: commas are doubled."""
    return str(p).replace(",", ",,")


class QemuBoard:
    """One emulated board; starts qemu on construction, kills it on close().

    Attributes: ``spec`` (``socket://127.0.0.1:P`` for tcp, the socket path
    for unix), ``port`` (tcp) or ``socket_path`` (unix), ``transcript_path``
    (every byte the guest printed), ``qemu_log_path`` (qemu's own messages),
    ``pid``, ``cmdline`` (the kernel's), ``argv`` (qemu's), ``started``
    (time.monotonic() at spawn), ``connected`` (at connect(), if used).
    """

    def __init__(
        self,
        build_dir: str | os.PathLike[str],
        *,
        name: str,
        memory: str = "256M",
        kernel: str = "vmlinux",
        echo: bool = True,
        serial: str = "tcp",
        extra_cmdline: str = "",
        workdir: str | os.PathLike[str] | None = None,
        machine: str = "q35",
        accel: str = "tcg",
        start_timeout: float = 30.0,
    ) -> None:
        if not _NAME_RE.match(name):
            raise ValueError(f"board name {name!r}: use 1-64 of A-Z a-z 0-9 _ . -")
        if kernel not in ("vmlinux", "vmlinuz"):
            raise ValueError(f"kernel={kernel!r}: 'vmlinux' (PVH direct boot, fast) or 'vmlinuz' (bzImage)")
        if serial not in ("tcp", "unix"):
            raise ValueError(f"serial={serial!r}: 'tcp' or 'unix'")
        if shutil.which(QEMU) is None:
            raise QemuBoardError(f"{QEMU} not installed; {INSTALL_HINT}")
        self.name = name
        self.serial = serial
        self.build_dir = Path(build_dir).expanduser().resolve()
        kernel_path = self.build_dir / kernel
        initrd = self.build_dir / "initramfs.cpio.gz"
        for p in (kernel_path, initrd):
            if not p.is_file():
                raise QemuBoardError(f"{p} missing: build the board first (ensure_built / build-board.sh)")

        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix=f"qemu-{name}-")) if workdir is None else Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.transcript_path = self.workdir / f"{name}.console.log"
        self.qemu_log_path = self.workdir / f"{name}.qemu.log"
        self.transcript_path.unlink(missing_ok=True)

        self.port: int | None = None
        self.socket_path: Path | None = None
        self._sockdir: Path | None = None
        chardev = "socket,id=s0,server=on,wait=on"
        if serial == "tcp":
            chardev += ",host=127.0.0.1,port=0,nodelay=on"
        else:
            # sun_path holds 107 bytes: keep the socket in a short private dir
            self._sockdir = Path(tempfile.mkdtemp(prefix="qb-"))
            self.socket_path = self._sockdir / f"{name}.sock"
            chardev += f",path={_qemu_path(self.socket_path)}"
        chardev += f",logfile={_qemu_path(self.transcript_path)},logappend=on"

        self.cmdline = DEFAULT_CMDLINE
        if not echo:
            self.cmdline += " board_echo=0"
        if extra_cmdline:
            self.cmdline += " " + extra_cmdline
        self.argv = [
            QEMU,
            "-name", name,
            "-machine", machine,
            "-accel", accel,
            "-cpu", "qemu64",
            "-smp", "1",
            "-m", memory,
            "-nodefaults",
            "-no-user-config",
            "-display", "none",
            "-monitor", "none",
            "-chardev", chardev,
            "-serial", "chardev:s0",
            "-no-reboot",
            "-kernel", str(kernel_path),
            "-initrd", str(initrd),
            "-append", self.cmdline,
        ]  # fmt: skip
        self.connected: float | None = None
        self._drain: threading.Thread | None = None
        self._closed = False
        self.started = time.monotonic()
        self._proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        _live.add(self)
        try:
            self._await_listening(start_timeout)
        except BaseException:
            self.close()
            raise

    # -- startup -------------------------------------------------------------

    def _await_listening(self, timeout: float) -> None:
        """Read qemu's output until it says it waits for the console client."""
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        seen = b""
        deadline = time.monotonic() + timeout
        while True:
            m = _READY_RE.search(seen)
            if m:
                if self.serial == "tcp":
                    self.port = int(m.group(1))
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise QemuBoardError(
                    f"board {self.name}: qemu did not open its serial socket within {timeout} s; "
                    f"it said: {seen.decode(errors='replace').strip()!r}"
                )
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                status = self._proc.wait()
                raise QemuBoardError(
                    f"board {self.name}: qemu exited (status {status}) before opening its serial socket; "
                    f"it said: {seen.decode(errors='replace').strip()}\ncommand: {' '.join(self.argv)}"
                )
            seen += chunk
        log_file = open(self.qemu_log_path, "wb")  # closed by the drain thread
        log_file.write(seen)
        log_file.flush()
        self._drain = threading.Thread(
            target=self._drain_output, args=(fd, log_file), name=f"qemu-{self.name}-log", daemon=True
        )
        self._drain.start()

    @staticmethod
    def _drain_output(fd: int, log_file) -> None:
        """Copy qemu's later messages to its log, so its pipe never fills."""
        with log_file:
            while True:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    return
                if not chunk:
                    return
                log_file.write(chunk)
                log_file.flush()

    # -- the console endpoint ------------------------------------------------

    @property
    def spec(self) -> str:
        """Where to connect: ``socket://127.0.0.1:P`` (tcp, a pyserial URL) or
        the unix socket's path."""
        if self.serial == "tcp":
            return f"socket://127.0.0.1:{self.port}"
        return str(self.socket_path)

    def connect(self, timeout: float = 10.0) -> socket.socket:
        """Connect a plain blocking socket to the console (TCP_NODELAY set for
        tcp). qemu serves one client at a time; the guest starts running when
        the first one connects."""
        if self.serial == "tcp":
            assert self.port is not None
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(str(self.socket_path))
            except BaseException:
                sock.close()
                raise
        sock.settimeout(None)
        if self.connected is None:
            self.connected = time.monotonic()
        return sock

    # -- the process ---------------------------------------------------------

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        """qemu's exit status once it has ended (poll() updates it), else None."""
        return self._proc.returncode

    def poll(self) -> int | None:
        return self._proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for qemu to exit by itself (e.g. after ``poweroff -f`` on the
        board); raises subprocess.TimeoutExpired."""
        return self._proc.wait(timeout)

    def transcript(self) -> bytes:
        """Everything the board printed so far."""
        try:
            return self.transcript_path.read_bytes()
        except FileNotFoundError:
            return b""

    def close(self) -> None:
        """Kill this board's qemu (by its pid; nothing else) and reap it."""
        if self._closed:
            return
        self._closed = True
        _live.discard(self)
        if self._proc.poll() is None:
            # SIGTERM: qemu exits at once; SIGKILL only if it does not
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(2)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()
                self._proc.wait()
        if self._drain is not None:
            self._drain.join(5)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        if self._sockdir is not None:
            shutil.rmtree(self._sockdir, ignore_errors=True)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> QemuBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"pid {self.pid}"
        return f"<QemuBoard {self.name} {self.spec} {state}>"


@atexit.register
def _close_leftovers() -> None:
    for board in list(_live):
        board.close()
