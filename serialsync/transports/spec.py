"""What a connection spec is once parsed, and what a scheme provides (the registry's two types).

A scheme is one kind of console (a local serial device, ``socket://``, a
command, ...): its module says how its specs look, parses them into a
ConnectionSpec and opens one, in the manner of pyserial's ``protocol_*`` URL
handlers. ``transports/__init__.py`` keeps the registry of schemes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

if TYPE_CHECKING:
    from .base import Transport


class SpecError(ValueError):
    """A spec a scheme cannot accept; the text says why, parse_connection adds the spec and SPEC_HELP."""


class ConnectionSpec(str):
    """A parsed, validated connection spec: the text as written, plus its scheme, target and typed options.

    It *is* its text (a ``str``), so wherever a connection is shown, compared,
    or written to results it reads exactly as the user wrote it, while the
    parsed parts travel with it and a spec is parsed once. ``scheme`` is the
    registry's name for its kind (``serial``, ``socket``, ``rfc2217``,
    ``cmd``, ``simulated``); ``target`` the device path, ``HOST:PORT``, the
    command text or the shell name; ``options`` the typed option values with
    defaults filled in (``argv`` for a command, ``host``/``port`` for the
    network forms). Immutable.
    """

    scheme: str
    target: str
    options: Mapping[str, Any]

    def __new__(
        cls, text: str, *, scheme: str, target: str, options: Mapping[str, Any] | None = None
    ) -> ConnectionSpec:
        self = super().__new__(cls, text)
        # str subclasses cannot have __slots__; the attributes live in __dict__, set once here
        self.__dict__.update(scheme=scheme, target=target, options=MappingProxyType(dict(options or {})))
        return self

    @property
    def text(self) -> str:
        """The spec as written, as a plain str."""
        return str.__str__(self)

    @property
    def kind(self) -> str:
        """The scheme's name (what callers of parse_spec() call its kind)."""
        return self.scheme

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"a ConnectionSpec is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"a ConnectionSpec is immutable: cannot delete {name!r}")

    # Immutable, so a copy (dataclasses.asdict copies the job model) is the value itself.
    def __copy__(self) -> ConnectionSpec:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ConnectionSpec:
        return self

    def __reduce__(self) -> tuple[Callable[..., ConnectionSpec], tuple[str, str, str, dict[str, Any]]]:
        return _rebuild, (self.text, self.scheme, self.target, dict(self.options))


def _rebuild(text: str, scheme: str, target: str, options: dict[str, Any]) -> ConnectionSpec:
    return ConnectionSpec(text, scheme=scheme, target=target, options=options)


class Opener(Protocol):
    """Opens one scheme's console.

    ``workdir`` is the board's own directory on this host and ``files`` what
    to place in it (a simulated board has them; other consoles ignore both).
    ``settle`` > 0: watch a new network connection that long for a console
    server that closes it at once (a ConsoleRefused, so it is tried again).
    """

    def __call__(
        self, connection: ConnectionSpec, *, workdir: Path, files: Mapping[str, bytes], settle: float
    ) -> Transport: ...


@dataclass(frozen=True)
class Scheme:
    """One kind of console in the registry: how its specs are recognised, its grammar, its opener."""

    name: str  # ConnectionSpec.scheme
    prefixes: tuple[str, ...]  # a spec that starts with one of these belongs to this scheme
    form: str  # its entry in SPEC_HELP
    parse: Callable[[str], ConnectionSpec]  # raises SpecError
    open: Opener
    alone: str | None = None  # a spec that is only this word belongs here too ("simulated")

    def claims(self, spec: str) -> bool:
        return spec.startswith(self.prefixes) or spec == self.alone


__all__ = ["ConnectionSpec", "Opener", "Scheme", "SpecError"]
