"""Byte pipes to a board's console, opened from a connection spec.

Imports errors and _time only; knows nothing of markers or groups.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import TransportError
from .base import MemoryTransport, Transport
from .simulated import SHELLS, SimulatedBoard

SPEC_HELP = "simulated[:" + "|".join(SHELLS) + "]"


def parse_spec(spec: str) -> tuple[str, str]:
    """Split a connection spec into (scheme, rest); ValueError quoting the known forms."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"connection must be a non-empty string like {SPEC_HELP}")
    scheme, _, rest = spec.partition(":")
    if scheme == "simulated":
        shell = rest or "sh"
        if shell not in SHELLS:
            raise ValueError(f"unknown shell {shell!r} in {spec!r}; expected {SPEC_HELP}")
        return scheme, shell
    raise ValueError(f"unsupported connection {spec!r}; expected {SPEC_HELP}")


def open_transport(spec: str, *, workdir: Path, group_text: bytes | None = None) -> Transport:
    try:
        scheme, rest = parse_spec(spec)
    except ValueError as e:
        raise TransportError(str(e)) from None
    if scheme == "simulated":
        return SimulatedBoard(workdir=workdir, shell=rest, group_text=group_text, spec=spec)
    raise TransportError(f"unsupported connection {spec!r}")  # parse_spec admits only known schemes


__all__ = ["SPEC_HELP", "MemoryTransport", "SimulatedBoard", "Transport", "open_transport", "parse_spec"]
