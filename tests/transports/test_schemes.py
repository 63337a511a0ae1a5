"""The scheme registry: one module per scheme, a spec parsed once into a ConnectionSpec, files for a board."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest

from serialsync.job.model import Device
from serialsync.transports import KINDS, SCHEMES, SPEC_HELP, ConnectionSpec, open_transport, parse_connection
from serialsync.transports.simulated import GROUP_FILE


def test_schemes_each_name_a_kind_and_a_form_of_spec_help() -> None:
    assert KINDS == tuple(s.name for s in SCHEMES)
    assert SPEC_HELP == " | ".join(s.form for s in SCHEMES)


def test_schemes_connection_spec_is_its_text_and_immutable() -> None:
    connection = parse_connection("rfc2217://h:1?poll_modem")
    assert connection == "rfc2217://h:1?poll_modem" and str(connection) == connection.text
    assert type(connection.text) is str and f"{connection}" == "rfc2217://h:1?poll_modem"
    assert (connection.scheme, connection.kind, connection.target) == ("rfc2217", "rfc2217", "h:1")
    assert connection.options["poll_modem"] is True and connection.options["baud"] == 115200
    with pytest.raises(AttributeError):
        connection.scheme = "socket"  # type: ignore[misc]
    with pytest.raises(TypeError):
        connection.options["baud"] = 9600  # type: ignore[index]
    assert parse_connection(connection) is connection  # parsed once
    assert copy.deepcopy(connection) is connection
    again = pickle.loads(pickle.dumps(connection))
    assert isinstance(again, ConnectionSpec) and dict(again.options) == dict(connection.options)


def test_schemes_a_device_carries_its_parsed_connection() -> None:
    device = Device("d", "r", "simulated:dash")
    assert isinstance(device.connection, ConnectionSpec) and device.connection.target == "dash"
    assert Device("d", "r").connection.scheme == "simulated"
    assert Device("d", "r", "telnet://x").connection == "telnet://x"  # kept: opening it says what is wrong


def test_schemes_files_are_placed_in_a_simulated_boards_directory(tmp_path: Path) -> None:
    files = {GROUP_FILE: b"dev1 server\n", "extra.txt": b"x"}
    with open_transport("simulated", workdir=tmp_path / "b", files=files):
        assert (tmp_path / "b" / GROUP_FILE).read_bytes() == b"dev1 server\n"
        assert (tmp_path / "b" / "extra.txt").read_bytes() == b"x"


def test_schemes_files_need_plain_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        open_transport("simulated", workdir=tmp_path / "b", files={"../escape": b"x"})
