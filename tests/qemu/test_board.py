"""The emulated board itself: it boots under qemu (TCG), its shell is reached
through the UART socket like a real board's, and it behaves as the other
tests assume (prompt, tty, job control, ^C, echo off on request).

Timeouts are generous: a 2-core machine shared with other work boots three
boards in 4-6 s, but can be several times slower."""

from __future__ import annotations

import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pexpect.fdpexpect
import pytest

pytestmark = pytest.mark.qemu

BOOT_TIMEOUT = 120.0
CMD_TIMEOUT = 30.0
# busybox ash in edit mode asks for the cursor position (ESC[6n) after each prompt
PROMPT = re.compile(rb"board# (?:\x1b\[6n)?")


def run(child, command: str, *, echo: bool = True) -> tuple[int, str]:
    """Type one command line; return (exit status, output with \\n endings).
    The end marker is split with quotes so its echo cannot match it."""
    child.sendline(f"{command}; echo __DO''NE:$?:".encode())
    child.expect(rb"__DONE:(\d+):\r+\n", timeout=CMD_TIMEOUT)
    status = int(child.match.group(1))
    out = child.before
    if echo:  # the echoed command line comes first
        out = out.split(b"\n", 1)[1] if b"\n" in out else b""
    child.expect(PROMPT, timeout=CMD_TIMEOUT)
    return status, re.sub(rb"\r+\n", b"\n", out).decode(errors="replace")


def resync(child) -> None:
    """Wait for the first prompt's aftermath: a marker, then the prompt."""
    child.sendline(b"echo __SY''NC__")
    child.expect(rb"__SYNC__\r+\n", timeout=CMD_TIMEOUT)
    child.expect(PROMPT, timeout=CMD_TIMEOUT)


def kernel_release(board_dir) -> str:
    info = dict(line.split("=", 1) for line in (board_dir / "board.info").read_text().splitlines() if "=" in line)
    return info["kernel_package"].removeprefix("linux-image-")


def test_boot_and_use_over_tcp(qemu_board, board_dir, record_property):
    board = qemu_board("dut1")
    url = urlsplit(board.spec)
    assert url.scheme == "socket" and url.hostname == "127.0.0.1"

    # a plain TCP socket to the spec, as to a board behind a console server
    sock = socket.create_connection((url.hostname, url.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(None)
    connected = time.monotonic()
    child = pexpect.fdpexpect.fdspawn(sock.detach(), timeout=BOOT_TIMEOUT)
    child.delaybeforesend = None
    try:
        child.expect(PROMPT, timeout=BOOT_TIMEOUT)
        boot = time.monotonic() - connected
        record_property("boot_to_prompt_s", round(boot, 2))
        print(f"\nvmlinux (PVH) board: prompt {boot:.2f} s after connecting")
        resync(child)

        assert run(child, "echo hi") == (0, "hi\n")
        assert run(child, "uname -r") == (0, kernel_release(board_dir) + "\n")
        assert run(child, "tty") == (0, "/dev/ttyS0\n")
        status, flags = run(child, 'echo "flags=$-"')
        assert status == 0 and "m" in flags.strip().removeprefix("flags="), f"job control is off: {flags!r}"
        status, out = run(child, "sleep 30 & jobs; kill %1")
        assert status == 0 and "Running" in out, out

        # the board has none of serialsync's helpers: tests type them on
        assert run(child, "command -v lava-sync lava-send")[0] != 0

        # ^C reaches the foreground job: start a sleep that says when it runs
        child.sendline(b"sh -c 'echo SLEE\"\"PING; exec sleep 100'")
        child.expect(rb"SLEEPING\r+\n", timeout=CMD_TIMEOUT)
        child.send(b"\x03")
        child.expect(PROMPT, timeout=10)
        assert run(child, "echo rc=$?") == (0, "rc=130\n")
    finally:
        child.close()

    assert b"rc=130" in board.transcript()


def test_three_boards_side_by_side(qemu_board, qemu_console, record_property):
    # two on TCP, one on a unix socket: both attach methods in one go
    boards = [
        qemu_board("side1"),
        qemu_board("side2"),
        qemu_board("side3", serial="unix"),
    ]
    assert boards[2].socket_path is not None and boards[2].spec == str(boards[2].socket_path)
    assert len({b.pid for b in boards}) == 3
    consoles = [qemu_console(b, timeout=BOOT_TIMEOUT) for b in boards]

    def boot(i: int) -> float:
        consoles[i].expect(PROMPT, timeout=BOOT_TIMEOUT)
        return time.monotonic() - boards[i].connected

    with ThreadPoolExecutor(3) as pool:
        times = list(pool.map(boot, range(3)))
    record_property("boot_to_prompt_s", [round(t, 2) for t in times])
    print("\nthree boards: prompt after " + ", ".join(f"{t:.2f}" for t in times) + " s")

    for i, child in enumerate(consoles):
        resync(child)
        assert run(child, f"echo board-{i}") == (0, f"board-{i}\n")


def test_board_echo_off(qemu_board, qemu_console):
    board = qemu_board("quiet", echo=False)
    assert "board_echo=0" in board.cmdline
    child = qemu_console(board, timeout=BOOT_TIMEOUT)
    child.expect(PROMPT, timeout=BOOT_TIMEOUT)

    # no echo and no line editor: exactly the output, then a bare prompt
    child.sendline(b'echo se""cret')
    child.expect(PROMPT, timeout=CMD_TIMEOUT)
    assert child.before == b"secret\r\n"
    assert child.after == b"board# "

    status, out = run(child, "stty -a", echo=False)
    assert status == 0 and re.search(r"(^|\s)-echo(\s|$)", out), out
    assert 'se""cret' not in board.transcript().decode(errors="replace")


def test_compressed_kernel_boots(qemu_board, qemu_console, record_property):
    """vmlinuz (Debian's bzImage as shipped) also boots; only slower."""
    board = qemu_board("bz", kernel="vmlinuz", serial="unix", echo=False)
    child = qemu_console(board, timeout=BOOT_TIMEOUT)
    child.expect(PROMPT, timeout=BOOT_TIMEOUT)
    boot = time.monotonic() - board.connected
    record_property("boot_to_prompt_s", round(boot, 2))
    print(f"\nvmlinuz (bzImage) board: prompt {boot:.2f} s after connecting")
    assert run(child, "echo ok", echo=False) == (0, "ok\n")
