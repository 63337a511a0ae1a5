"""cmd: a console client run on a raw pty (real commands: cat, sh, socat)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from transport_links import read_exactly

from serialsync.errors import TransportClosed, TransportError, TransportTimeout
from serialsync.transports import CommandTransport, open_transport


def test_cmd_cat_echoes_bytes_unchanged(tmp_path: Path) -> None:
    # the pty is raw: no echo of our own typing, no \n -> \r\n, and ^C ^D ^Z are data
    data = b"hello\n\x03\x04\x1a\x7f\r\n" + bytes(range(256))
    with open_transport("cmd:cat", workdir=tmp_path) as transport:
        transport.write(data)
        assert read_exactly(transport, len(data), 10) == data
        with pytest.raises(TransportTimeout):
            transport.read(100, 0.2)  # nothing more: no echo by the pty


def test_cmd_exit_is_eof_with_its_status(tmp_path: Path) -> None:
    with open_transport("cmd:sh -c 'echo bye; exit 3'", workdir=tmp_path) as transport:
        assert isinstance(transport, CommandTransport)
        got = b""
        while True:
            data = transport.read(100, 10)
            if not data:
                break
            got += data
        assert got == b"bye\n"  # raw: no output processing by our pty either
        assert transport.read(100, 10) == b""  # EOF stays
        assert transport.exit_status == 3
        with pytest.raises(TransportClosed):
            transport.write(b"x\n")


def test_cmd_long_form_and_quoting(tmp_path: Path) -> None:
    with open_transport("""command:sh -c 'printf "%s|" "$@"' sh 'a b' "c'd" e\\ f""", workdir=tmp_path) as transport:
        assert read_exactly(transport, 12, 10) == b"a b|c'd|e f|"


def test_cmd_missing_command_is_named(tmp_path: Path) -> None:
    with pytest.raises(TransportError) as info:
        open_transport("cmd:serialsync-no-such-console --board 3", workdir=tmp_path)
    assert "serialsync-no-such-console" in str(info.value) and "not found" in str(info.value)


def test_cmd_close_ends_the_command(tmp_path: Path) -> None:
    transport = open_transport("cmd:sleep 600", workdir=tmp_path)
    assert isinstance(transport, CommandTransport)
    pid = transport.pid
    transport.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # ended and reaped
    with pytest.raises(TransportClosed):
        transport.read(1, 1)


def test_command_console_with_descriptors_past_fd_setsize(tmp_path):
    """A big group holds more than 1024 descriptors; select() cannot wait on those, poll() can."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1400:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    pipes = [os.pipe() for _ in range(600)]  # push the next descriptors past 1024
    try:
        transport = open_transport("cmd:cat", workdir=tmp_path)
        try:
            with pytest.raises(TransportTimeout):
                transport.read(100, 0.05)
            transport.write(b"ping\n")
            got = b""
            while b"ping" not in got:
                got += transport.read(100, 5)
        finally:
            transport.close()
    finally:
        for r, w in pipes:
            os.close(r)
            os.close(w)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
