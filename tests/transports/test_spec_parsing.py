"""Connection specs: the forms, strict options, errors that quote every known form."""

from __future__ import annotations

from pathlib import Path

import pytest

from serialsync.errors import TransportError
from serialsync.transports import SPEC_HELP, parse_connection, parse_spec
from serialsync.transports import open_transport as open_console


@pytest.mark.parametrize(
    ("spec", "kind", "target", "options"),
    [
        (
            "/dev/ttyUSB0",
            "serial",
            "/dev/ttyUSB0",
            {"baud": 115200, "exclusive": True, "reopen": 30.0, "rtscts": False, "xonxoff": False},
        ),
        (
            "/dev/serial/by-id/usb-FTDI_1-if00?baud=9600&exclusive=off&reopen=0.5&rtscts&xonxoff=no",
            "serial",
            "/dev/serial/by-id/usb-FTDI_1-if00",
            {"baud": 9600, "exclusive": False, "reopen": 0.5, "rtscts": True, "xonxoff": False},
        ),
        ("/dev/ttyACM0?reopen=0", "serial", "/dev/ttyACM0", {"reopen": 0.0}),
        ("socket://127.0.0.1:7001", "socket", "127.0.0.1:7001", {"host": "127.0.0.1", "port": 7001}),
        ("socket://[::1]:7001", "socket", "[::1]:7001", {"host": "::1", "port": 7001}),
        (
            "rfc2217://console.lab:3001?ign_set_control&timeout=5",
            "rfc2217",
            "console.lab:3001",
            {"host": "console.lab", "port": 3001, "baud": 115200, "ign_set_control": True, "timeout": 5.0},
        ),
        ("rfc2217://h:1?baud=57600&poll_modem", "rfc2217", "h:1", {"baud": 57600, "poll_modem": True}),
        ("cmd:telnet 127.0.0.1 7001", "cmd", "telnet 127.0.0.1 7001", {"argv": ("telnet", "127.0.0.1", "7001")}),
        (
            "command:conmux-console 'board 1'",
            "cmd",
            "conmux-console 'board 1'",
            {"argv": ("conmux-console", "board 1")},
        ),
        ("simulated", "simulated", "sh", {}),
        ("simulated:busybox", "simulated", "busybox", {}),
    ],
)
def test_spec_forms(spec: str, kind: str, target: str, options: dict) -> None:
    connection = parse_connection(spec)
    assert (connection.kind, connection.target) == (kind, target)
    assert options.items() <= connection.options.items()
    assert parse_spec(spec) == (kind, target)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("", "non-empty"),
        ("ttyUSB0", "absolute path"),
        ("telnet://127.0.0.1:23", "unsupported connection"),
        ("simulated:zsh", "unknown shell 'zsh'"),
        ("/dev/ttyUSB0?speed=115200", "unknown option 'speed'"),
        ("/dev/ttyUSB0?baud=fast", "option 'baud'"),
        ("/dev/ttyUSB0?baud", "option 'baud'"),
        ("/dev/ttyUSB0?baud=0", "option 'baud'"),
        ("/dev/ttyUSB0?reopen=-1", "option 'reopen'"),
        ("/dev/ttyUSB0?reopen=inf", "option 'reopen'"),
        ("/dev/ttyUSB0?exclusive=maybe", "option 'exclusive'"),
        ("/dev/ttyUSB0?baud=9600&baud=9600", "given twice"),
        ("/dev/tty USB0", "white space"),
        ("socket://127.0.0.1", "HOST:PORT"),
        ("socket://:7001", "HOST:PORT"),
        ("socket://127.0.0.1:70000", "1-65535"),
        ("socket://127.0.0.1:7001?ign_set_control", "unknown option 'ign_set_control'"),
        ("socket://127.0.0.1:7001/x", "after HOST:PORT"),
        ("socket://user@127.0.0.1:7001", "user names"),
        ("rfc2217://127.0.0.1:7001?logging=debug", "unknown option 'logging'"),
        ("rfc2217://127.0.0.1:7001?timeout=0", "option 'timeout'"),
        ("cmd:", "empty command"),
        ("cmd:   ", "empty command"),
        ("cmd:telnet 'host", "cannot split"),
    ],
)
def test_spec_errors_quote_the_known_forms(spec: str, words: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        parse_spec(spec)
    message = str(info.value)
    assert words in message and SPEC_HELP in message, message
    # opening says the same, as a TransportError
    with pytest.raises(TransportError) as opened:
        open_console(spec, workdir=tmp_path)
    assert words in str(opened.value) and SPEC_HELP in str(opened.value)


def test_spec_help_lists_every_form() -> None:
    for form in ("/dev/", "baud=", "exclusive=", "reopen=", "socket://", "rfc2217://", "ign_set_control", "cmd:"):
        assert form in SPEC_HELP
    assert "simulated[:sh|dash|bash|busybox]" in SPEC_HELP
