"""Fixtures for the transport tests; the far ends themselves are in transport_links.py."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from transport_links import Ser2net, SocatPair


@pytest.fixture
def socat_pair(tmp_path: Path) -> Iterator[SocatPair]:
    pair = SocatPair(tmp_path)
    try:
        yield pair
    finally:
        pair.stop()


@pytest.fixture
def tcp_listener() -> Iterator[socket.socket]:
    """A listening socket on 127.0.0.1, port 0; the test accept()s (the backlog holds the connect)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(10)
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture
def ser2net(socat_pair: SocatPair, tmp_path: Path) -> Iterator[Ser2net]:
    server = Ser2net(socat_pair.a, tmp_path)
    try:
        yield server
    finally:
        server.stop()
