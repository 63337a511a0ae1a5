"""Imports point down the layers only (docs: STYLE.md, 'Package layout')."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "serialsync"

# layer of each top-level part -> the parts it may import
ALLOWED = {
    "errors": set(),
    "_time": set(),
    "_text": set(),
    "_resources": set(),
    "_scheduler": {"_time"},
    "protocol": {"errors"},
    "coordinator": {"errors", "_time"},
    "transports": {"errors", "_time", "_resources"},
    # everything typed into a board: outbox, writer thread, pacers
    "keyboard": {"errors", "_time"},
    # a board's request served by the group: the reply and the call's record
    "serving": {"errors", "_time", "protocol", "coordinator"},
    "watcher": {"errors", "_time", "_scheduler", "protocol", "coordinator", "keyboard", "serving"},
    "console": {"errors", "_time", "protocol", "coordinator", "transports", "keyboard", "watcher"},
    "install": {"errors", "_resources"},
    # recorded logs in: protocol events out, or boards played back to a watcher
    "replay": {"errors", "_time", "protocol", "coordinator", "transports", "watcher", "console"},
    # a run drawn as one page: from results.json and console logs (replay reads them), or LAVA logs
    "timeline": {"errors", "_time", "_text", "protocol", "coordinator", "transports", "watcher", "console", "replay"},
    "status": {"errors", "_time", "protocol", "coordinator", "transports", "watcher", "console", "install", "job"},
    "job": {
        "errors", "_time", "_text", "_resources", "protocol", "coordinator", "transports", "keyboard", "serving",
        "watcher", "console", "install", "timeline",
    },
    # a group of boards driven from Python (the pytest plugin's and labgrid's runtime)
    "boards": {
        "errors", "_time", "_text", "_resources", "protocol", "coordinator", "transports", "keyboard", "watcher",
        "install", "job",
    },
    "pytest_plugin": {"errors", "_time", "_text", "coordinator", "job", "boards", "labgrid"},
    "labgrid": {
        "errors", "_time", "protocol", "coordinator", "transports", "keyboard", "watcher", "install", "job", "boards",
    },
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


def module_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imported_modules(path: Path) -> dict[str, list[str]]:
    """serialsync modules path imports (anywhere in it, a function too) -> the names it takes from each."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_of(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("serialsync"):
                    found.setdefault(alias.name, [])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if not target.startswith("serialsync"):
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if _exists(submodule):
                    found.setdefault(submodule, [])  # `from . import x`: the module x
                else:
                    found.setdefault(target, []).append(alias.name)
    return found


def _exists(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def test_layering_no_import_cycle_at_any_level():
    """Module by module, imports inside functions and for type checking included: no cycle."""
    graph = {module_of(p): set(imported_modules(p)) for p in PACKAGE.rglob("*.py")}
    # A package's __init__ re-exports what is below it: importing the package is importing those.
    cycles = []
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if target not in graph or target == module:
                continue
            if state.get(target) == 1:
                # A package importing its own parts is how it re-exports them, not a cycle.
                loop = [*trail[trail.index(target) :], target] if target in trail else [module, target]
                if not all(a.startswith(b + ".") or b.startswith(a + ".") for a, b in itertools.pairwise(loop)):
                    cycles.append(" -> ".join(loop))
            elif state.get(target) is None:
                visit(target, [*trail, target])
        state[module] = 2

    for module in sorted(graph):
        if state.get(module) is None:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_layering_no_private_name_is_imported_from_another_module():
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for module, names in imported_modules(path).items():
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private:
                offences.append(f"{module_of(path)} imports {', '.join(private)} from {module}")
    assert not offences, "\n".join(offences)
