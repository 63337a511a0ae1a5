"""Imports point down the layers only (docs: STYLE.md, 'Package layout')."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "serialsync"

# layer of each top-level part -> the parts it may import
ALLOWED = {
    "errors": set(),
    "_time": set(),
    "_resources": set(),
    "_scheduler": set(),
    "protocol": {"errors"},
    "coordinator": {"errors", "_time"},
    "transports": {"errors", "_time", "_resources"},
    "watcher": {"errors", "_time", "_scheduler", "protocol", "coordinator", "transports"},
    "console": {"errors", "_time", "protocol", "coordinator", "transports", "watcher"},
    "install": {"errors", "_resources"},
    # recorded logs in: protocol events out, or boards played back to a watcher
    "replay": {"errors", "_time", "protocol", "coordinator", "transports", "watcher", "console"},
    # a run drawn as one page: from results.json and console logs (replay reads them), or LAVA logs
    "timeline": {"errors", "_time", "protocol", "coordinator", "transports", "watcher", "console", "replay"},
    "status": {"errors", "_time", "protocol", "coordinator", "transports", "watcher", "console", "install", "job"},
    "job": {
        "errors", "_time", "_resources", "protocol", "coordinator", "transports", "watcher", "console", "install",
        "timeline",
    },
    # a group of boards driven from Python (the pytest plugin's and labgrid's runtime)
    "boards": {"errors", "_time", "_resources", "protocol", "coordinator", "transports", "watcher", "install", "job"},
    "pytest_plugin": {"errors", "_time", "coordinator", "job", "boards"},
    "labgrid": {"errors", "_time", "protocol", "coordinator", "transports", "watcher", "install", "job", "boards"},
    "__main__": {"cli"},
    "cli": {
        "__init__",
        "errors",
        "_time",
        "_resources",
        "protocol",
        "coordinator",
        "transports",
        "watcher",
        "console",
        "install",
        "job",
        "replay",
        "status",
        "timeline",
    },
    "__init__": {"errors"},
    "examples": set(),
}
SANS_IO_FORBIDDEN = {"socket", "select", "threading", "time", "pexpect", "serial", "subprocess", "os", "asyncio"}


def part_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def imported_parts(path: Path) -> tuple[set[str], set[str]]:
    """(serialsync parts imported, third-party/stdlib top-level modules imported)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    depth = len(path.relative_to(PACKAGE).parts) - 1  # 0 for serialsync/x.py
    parts: set[str] = set()
    external: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")
                if top[0] == "serialsync" and len(top) > 1:
                    parts.add(top[1])
                else:
                    external.add(top[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                top = (node.module or "").split(".")
                if top[0] == "serialsync":
                    parts.add(top[1] if len(top) > 1 else "__init__")
                else:
                    external.add(top[0])
            elif node.level > depth:  # reaches serialsync/ itself: `from ..x import`
                if node.module:
                    parts.add(node.module.split(".")[0])
                else:  # `from .. import x`: a module, or a name from serialsync/__init__
                    for alias in node.names:
                        is_module = (PACKAGE / alias.name).is_dir() or (PACKAGE / f"{alias.name}.py").is_file()
                        parts.add(alias.name if is_module else "__init__")
    return parts, external


def test_layering_imports_point_down_only():
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = part_of(path)
        parts, _ = imported_parts(path)
        for imported in parts - {part}:
            if imported not in ALLOWED.get(part, set()):
                offences.append(f"{path.relative_to(PACKAGE.parent)} ({part}) imports {imported}")
    assert not offences, "\n".join(offences)


def test_layering_protocol_is_sans_io():
    for path in sorted((PACKAGE / "protocol").rglob("*.py")):
        _, external = imported_parts(path)
        assert not external & SANS_IO_FORBIDDEN, f"{path.name} imports {external & SANS_IO_FORBIDDEN}"
