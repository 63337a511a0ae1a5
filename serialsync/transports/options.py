"""The grammar the schemes share: ``?a=1&b`` options, parsed strictly, and ``HOST:PORT``.

Strict in the style of pyserial's ``from_url``: an unknown, repeated or
malformed option is an error (a SpecError; parse_connection quotes SPEC_HELP
with it), never ignored. Booleans take ``1/0``, ``on/off``, ``yes/no``,
``true/false``; a flag alone (``?rtscts``) means on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .spec import ConnectionSpec, SpecError

#: an option's parser: its text (None for a flag alone) -> its typed value; ValueError saying what was expected
OptionParser = Callable[[str | None], Any]

DEFAULT_BAUD = 115200


def _shown(value: str | None) -> str:
    return "nothing" if value is None else repr(value)


def boolean(value: str | None) -> bool:
    if value is None:
        return True  # a flag alone means on, as pyserial's ign_set_control
    lowered = value.lower()
    if lowered in ("1", "on", "yes", "true"):
        return True
    if lowered in ("0", "off", "no", "false"):
        return False
    raise ValueError(f"expected 1/0, on/off, yes/no or true/false, not {value!r}")


def baud(value: str | None) -> int:
    if value is None or not value.isdigit() or not 0 < int(value) <= 20_000_000:
        raise ValueError(f"expected a line speed in bits per second like 115200, not {_shown(value)}")
    return int(value)


def seconds(value: str | None) -> float:
    try:
        parsed = float(value) if value is not None else math.nan
    except ValueError:
        parsed = math.nan
    if not 0 <= parsed < math.inf:
        raise ValueError(f"expected seconds >= 0 like 30 or 0.5, not {_shown(value)}")
    return parsed


def positive_seconds(value: str | None) -> float:
    parsed = seconds(value)
    if parsed == 0:
        raise ValueError("expected seconds > 0, not 0")
    return parsed


def parse_options(query: str, known: Mapping[str, OptionParser]) -> dict[str, Any]:
    """The options of ``?query`` (the text after ``?``), each parsed by its parser in known."""
    options: dict[str, Any] = {}
    if not query:
        return options
    for item in query.split("&"):
        name, equals, value = item.partition("=")
        if name not in known:
            allowed = ", ".join(known) if known else "none"
            raise SpecError(f"unknown option {name!r} (options here: {allowed})")
        if name in options:
            raise SpecError(f"option {name!r} given twice")
        try:
            options[name] = known[name](value if equals else None)
        except ValueError as e:
            raise SpecError(f"option {name!r}: {e}") from None
    return options


def network_connection(
    spec: str, scheme: str, known: Mapping[str, OptionParser], defaults: Mapping[str, Any] | None = None
) -> ConnectionSpec:
    """``SCHEME://HOST:PORT[?OPTIONS]``: target ``HOST:PORT`` (IPv6 in brackets), options with host and port."""
    parts = urlsplit(spec)
    try:
        port = parts.port
    except ValueError:
        raise SpecError("the port must be a number 1-65535") from None
    host = parts.hostname
    if not host or port is None or port == 0:
        raise SpecError(f"{scheme}:// needs HOST:PORT")
    if parts.username is not None or parts.password is not None:
        raise SpecError("user names and passwords are not supported")
    if parts.path or parts.fragment or any(c.isspace() for c in parts.netloc):
        raise SpecError(f"unexpected text after HOST:PORT ({parts.path or parts.fragment or parts.netloc!r})")
    options = parse_options(parts.query, known)
    options.update(host=host, port=port)
    for name, value in (defaults or {}).items():
        options.setdefault(name, value)
    return ConnectionSpec(spec, scheme=scheme, target=host_port(host, port), options=options)


def host_port(host: str, port: int) -> str:
    """``HOST:PORT`` as a URL writes it (an IPv6 address in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


__all__ = [
    "DEFAULT_BAUD",
    "OptionParser",
    "baud",
    "boolean",
    "host_port",
    "network_connection",
    "parse_options",
    "positive_seconds",
    "seconds",
]
