"""A board's serial device vanishes and comes back mid-job: nothing is lost, every value arrives exact.

The wire, end to end:

    board shell (busybox sh -i) ── its console pty ── socat #1 (lives all along) ── pty "uart"
        uart ── socat #2 (killed and started again) ── pty, link ttyX ── host: "ttyX?reopen=30"

Killing socat #2 is a USB-serial adapter unplugged: ttyX disappears, the
host's port fails and is reopened on the same path once socat #2 is back.
The board never notices, as a real board would not; what it printed
meanwhile is thrown away (the uart's queue is flushed), as a real gap loses
it. The test holds the uart open itself so that socat #1 never sees its far
end close. Gaps are started and ended by what happens, never by sleeping:
the board's loop says (through a FIFO) that it reached a planned gap point,
the test unplugs, waits until the host logged the device gone, lets the
board go on, reads away (loses) the marker the board prints into the dead
line, plugs the adapter in again and waits until the host logged it back.
"""

from __future__ import annotations

import logging
import os
import re
import select
import shutil
import stat
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from serialsync._resources import helper_files
from serialsync.job import parse_job, run_job
from serialsync.job.run import Reporter
from serialsync.protocol import wire
from serialsync.watcher import CallRecord

pytestmark = pytest.mark.slow

SOCAT_READY = b"starting data transfer loop"
ROUNDS = 12  # each round: lava-sync, lava-send, lava-wait on both boards
GAP_POINTS = ("r3", "s6", "c9")  # the gap opens just before the gateway's call with this message ID
HELD_REPLY = "c11"  # a gap opens while the gateway waits for this message; its reply is decided meanwhile
NASTY = "a b>c=d:e 'q' $(reboot) `id`; é"


def need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed (CI installs it: apt-get install -y {program})")
    return path


def start_socat(argv: list[str], **popen: object) -> subprocess.Popen[bytes]:
    """socat, once it says it moves data (its ptys and links exist by then)."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen)  # type: ignore[call-overload]
    assert proc.stderr is not None
    said = b""
    deadline = time.monotonic() + 10
    while SOCAT_READY not in said:
        left = deadline - time.monotonic()
        assert left > 0, f"socat did not start: {said!r}"
        if select.select([proc.stderr], [], [], left)[0]:
            chunk = os.read(proc.stderr.fileno(), 4096)
            assert chunk, f"socat exited: {said!r}"
            said += chunk
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()  # socat removes its links on SIGTERM
    proc.wait(10)
    if proc.stderr is not None:
        proc.stderr.close()


class GapBoard:
    """A board shell behind a serial link whose host side can be unplugged and plugged in again."""

    def __init__(self, directory: Path, name: str, members: list[tuple[str, str]]) -> None:
        self.socat = need("socat")
        busybox = need("busybox")
        directory.mkdir(parents=True)
        bindir = directory / "bin"
        bindir.mkdir()
        for source in helper_files():
            target = bindir / source.name
            shutil.copyfile(source, target)
            target.chmod(target.stat().st_mode | stat.S_IXUSR)
        group = directory / "group.txt"
        group.write_bytes(wire.group_file_text(name, members))
        self.cache = directory / "cache.txt"
        # The board's loop tells the test where it is, and waits for its go-ahead, through two FIFOs.
        self.at_gap = directory / "at-gap"
        self.go_on = directory / "go-on"
        os.mkfifo(self.at_gap)
        os.mkfifo(self.go_on)
        # Opened read-write: neither end's open blocks, and no EOF when the other side closes.
        self.at_gap_fd = os.open(self.at_gap, os.O_RDWR | os.O_NONBLOCK)
        self.go_on_fd = os.open(self.go_on, os.O_RDWR)
        self.peer_gate = directory / "peer-gate"  # the other board's: see HELD_REPLY
        os.mkfifo(self.peer_gate)
        self.peer_gate_fd = os.open(self.peer_gate, os.O_RDWR)
        env = {
            "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(directory),
            "PS1": "board$ ",
            "TERM": "dumb",
            "LANG": "C.UTF-8",
            "LAVA_MULTI_NODE_CACHE": str(self.cache),
            "SERIALSYNC_GROUP_FILE": str(group),
            "GAP_FIFO": str(self.at_gap),
            "GO_FIFO": str(self.go_on),
            "GAPS": " ".join(GAP_POINTS),
        }
        self.uart = directory / "uart"
        self.tty = directory / "ttyX"
        # socat #1: the board's shell on a console pty (echo, line editing: a board's
        # console), its bytes to and from the uart pty. It lives for the whole test.
        self.board = start_socat(
            [
                self.socat, "-d", "-d",
                f"EXEC:{busybox} sh -i,pty,setsid,ctty,stderr,sigint",
                f"PTY,link={self.uart},raw,echo=0",
            ],
            env=env,
            cwd=directory,
        )  # fmt: skip
        # Held open by the test: socat #1 must never see the uart's far end close.
        self.held = os.open(self.uart, os.O_RDWR | os.O_NOCTTY)
        self.bridge: subprocess.Popen[bytes] | None = None
        self.plug()

    def plug(self) -> None:
        """socat #2: the host's side of the link appears at ttyX."""
        assert self.bridge is None
        self.bridge = start_socat(
            [self.socat, "-d", "-d", f"GOPEN:{self.uart},raw,echo=0", f"PTY,link={self.tty},raw,echo=0"]
        )

    def unplug(self) -> None:
        assert self.bridge is not None
        stop(self.bridge)
        self.bridge = None

    def reached_gap(self, timeout: float) -> str | None:
        """The gap point the board's loop reached (it then waits for go_ahead), or None."""
        if not select.select([self.at_gap_fd], [], [], timeout)[0]:
            return None
        return os.read(self.at_gap_fd, 100).decode().strip()

    def go_ahead(self) -> None:
        os.write(self.go_on_fd, b"go\n")

    def lose_marker(self, message_id: str, timeout: float) -> bytes:
        """Read away what the board prints into the dead line, up to its marker for message_id: the gap loses it."""
        lost = b""
        deadline = time.monotonic() + timeout
        while not re.search(rb"<SERIALSYNC1 [^>\n]* %s [^\n]*\n" % re.escape(message_id.encode()), lost):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.held], [], [], left)[0]:
                break
            lost += os.read(self.held, 4096)
        return lost

    def close(self) -> None:
        if self.bridge is not None:
            stop(self.bridge)
        stop(self.board)
        for fd in (self.held, self.at_gap_fd, self.go_on_fd, self.peer_gate_fd):
            os.close(fd)


@dataclass
class Gaps:
    """The host's own log of the port: when it saw the device go and come back, and for how long."""

    gone: threading.Event = field(default_factory=threading.Event)
    back: threading.Event = field(default_factory=threading.Event)
    lengths: list[str] = field(default_factory=list)


class PortLog(logging.Handler):
    def __init__(self, gaps: Gaps) -> None:
        super().__init__(logging.INFO)
        self.gaps = gaps

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "device gone" in text:
            self.gaps.gone.set()
        elif "device back after a gap of" in text:
            self.gaps.lengths.append(text.split("a gap of ", 1)[1].split(";", 1)[0])
            self.gaps.back.set()


class CallCounter(Reporter):
    """The gateway board's calls as the host records them; wakes whoever waits for one."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.calls: list[CallRecord] = []
        self.started: list[str | None] = []  # message IDs of blocking calls the host saw begin
        self.changed = threading.Condition()

    def call_started(self, device, api: str, message_id: str | None, role: str | None = None) -> None:
        if device.name == self.device:
            with self.changed:
                self.started.append(message_id)
                self.changed.notify_all()

    def call_done(self, device, record: CallRecord) -> None:
        if device.name == self.device:
            with self.changed:
                self.calls.append(record)
                self.changed.notify_all()

    def wait_started(self, message_id: str, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: message_id in self.started, timeout)

    def wait_done(self, message_id: str, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: any(c.message_id == message_id for c in self.calls), timeout)


def test_serial_gap_mid_job_loses_no_call_and_no_value(tmp_path: Path) -> None:
    members = [("gw", "server"), ("peer", "client")]
    board = GapBoard(tmp_path / "gw-board", "gw", members)
    # gap NAME: at a planned gap point, say so and wait for the test's go-ahead.
    gap = 'gap() { case " $GAPS " in *" $1 "*) echo "$1" > "$GAP_FIFO"; read -r _ < "$GO_FIFO";; esac; }'
    loop_server = (
        f"{gap}; i=0; while [ $i -lt {ROUNDS} ]; do i=$((i+1)); "
        'gap "r$i"; lava-sync "r$i" || exit 1; '
        'gap "s$i"; lava-send "s$i" "v=gw $i $NASTY" || exit 2; '
        'gap "c$i"; lava-wait "c$i" || exit 3; '
        'grep -qxF "peer:v=peer $i $NASTY" "$LAVA_MULTI_NODE_CACHE" || exit 4; done'
    )
    # The peer holds back its send of HELD_REPLY until the test lets it (the gateway waits for it meanwhile).
    hold = f'[ "c$i" = {HELD_REPLY} ] && read -r _ < {board.peer_gate}; '
    loop_client = (
        f"i=0; while [ $i -lt {ROUNDS} ]; do i=$((i+1)); "
        'lava-sync "r$i" || exit 1; '
        f"{hold}"
        'lava-send "c$i" "v=peer $i $NASTY" || exit 2; '
        'lava-wait "s$i" || exit 3; '
        'grep -qxF "gw:v=gw $i $NASTY" "$LAVA_MULTI_NODE_CACHE" || exit 4; done'
    )
    quoted = NASTY.replace("'", "'\\''")
    job = parse_job(
        f"""
timeouts: {{step: 180, call: 90}}
devices:
  - {{name: gw, role: server, connection: "{board.tty}?reopen=30"}}
  - {{name: peer, role: client, connection: "simulated:dash"}}
roles:
  server:
    steps:
      - |
        NASTY='{quoted}'
      - |
        {loop_server}
  client:
    steps:
      - |
        NASTY='{quoted}'
      - |
        {loop_client}
""",
        source="serial-gap.yaml",
    )
    counter = CallCounter("gw")
    gaps = Gaps()
    handler = PortLog(gaps)
    port_log = logging.getLogger("serialsync.transports")
    port_log.addHandler(handler)
    previous_level = port_log.level
    port_log.setLevel(logging.INFO)
    lost: list[bytes] = []  # what the board printed into each gap, read away by the test
    failures: list[str] = []

    def unplugger() -> None:
        try:
            for point in GAP_POINTS:
                reached = board.reached_gap(120)
                if reached != point:
                    failures.append(f"the board did not reach gap point {point} (got {reached!r})")
                    return
                gaps.gone.clear()
                gaps.back.clear()
                board.unplug()
                if not gaps.gone.wait(30):
                    failures.append("the host never noticed the device gone")
                    return
                board.go_ahead()  # the board's next call prints its marker into the dead line
                lost.append(board.lose_marker(point, 30))
                board.plug()
                if not gaps.back.wait(30):
                    failures.append("the host never reopened the device")
                    return
            # A gap while the gateway waits: the peer's send completes the wait, and its
            # reply is decided while the line is down; it is typed once the line is back.
            if not counter.wait_started(HELD_REPLY, 120):
                failures.append(f"the gateway never waited for {HELD_REPLY}")
                return
            gaps.gone.clear()
            gaps.back.clear()
            board.unplug()
            if not gaps.gone.wait(30):
                failures.append("the host never noticed the device gone")
                return
            os.write(board.peer_gate_fd, b"go\n")
            if not counter.wait_done(HELD_REPLY, 60):
                failures.append(f"the wait for {HELD_REPLY} was not answered during the gap")
                return
            board.plug()
            if not gaps.back.wait(30):
                failures.append("the host never reopened the device")
        except Exception as e:  # reported by the test, not lost in a thread
            failures.append(repr(e))

    thread = threading.Thread(target=unplugger, name="unplugger", daemon=True)
    started = time.monotonic()
    try:
        thread.start()
        result = run_job(job, tmp_path / "out", reporter=counter)
        thread.join(30)
    finally:
        port_log.removeHandler(handler)
        port_log.setLevel(previous_level)
        board.close()
    took = time.monotonic() - started
    summary = (
        f"{len(counter.calls)} calls by gw, {len(gaps.lengths)} gaps ({', '.join(gaps.lengths)}), "
        f"lost in the gaps: {lost}, {took:.1f} s"
    )
    print(summary)  # the run's figures, for whoever reads the test log
    assert not failures, (failures, summary)
    steps = [(d.name, d.reason, [(s.result, s.reason) for s in d.steps]) for d in result.devices]
    assert result.passed, (steps, summary)
    assert len(gaps.lengths) == len(GAP_POINTS) + 1, summary
    # Each gap lost the marker of the call the board made in it (its retry line brought it back).
    for point, line in zip(GAP_POINTS, lost, strict=True):
        assert re.search(rb"<SERIALSYNC1 [^>\n]* %s " % point.encode(), line), (point, line)
    # Every call exactly once, every one served: none lost in a gap, none made twice.
    served = [(c.api, c.message_id) for c in counter.calls]
    assert len(served) == len(set(served)) == 3 * ROUNDS, summary
    assert all(c.ok for c in counter.calls), [c for c in counter.calls if not c.ok]
    # The values, byte-exact, as each board's cache holds them after its last wait.
    assert board.cache.read_text(encoding="utf-8") == f"peer:v=peer {ROUNDS} {NASTY}\n"
