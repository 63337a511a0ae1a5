"""LAVA test definitions ("Lava-Test Test Definition 1.0"): inline in a job, or a file in a git repository.

A definition's steps become one script on the board, as LAVA runs them:
its ``params`` (defaults) and the job's ``parameters`` are set first as
shell variables, then ``set -e``, then the steps. A definition from git
brings the files its steps use: the part of the repository they need is
typed onto the board (see ``files_needed``) and the steps run from there.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import yaml

from ..errors import JobConfigError
from .fields import Problems, construct, flag_of, mapping, step_of, string
from .model import Definition, Parse, Step, step_title

BOARD_TESTS_DIR = "tests"  # under the device's directory on the board (/tmp/serialsync on a real one)
DEFAULT_MAX_BYTES = 256 * 1024  # typed onto a board at 115200 baud: about 45 s
SHARED_DIRS = ("lib", "utils")  # beside a definition's ancestors: what Linaro's test-definitions share
GIT_TIMEOUT = 300.0

_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_RESULTS = ("pass", "fail", "skip", "unknown")
_ENTRY_KEYS = {
    "from", "name", "path", "repository", "parameters", "params", "lava-signal", "revision", "branch",
    "history", "shallow", "recursive", "serialsync_files", "serialsync_max_bytes",
}  # fmt: skip
_TESTDEF_KEYS = {"metadata", "params", "parameters", "install", "run", "parse"}


def read_definition(
    node: yaml.Node, where: str, directory: str, problems: Problems, notes: list[tuple[int | None, str]]
) -> tuple[Definition | None, list[Step]]:
    """One entry of a test action's ``definitions``: the definition and its steps (keyed by ``where``)."""
    fields = mapping(node, where, _ENTRY_KEYS, {"from", "name"}, problems)
    origin = str(getattr(fields.get("from"), "value", ""))
    name = string(fields.get("name"), f"{where}.name", problems) if "name" in fields else "test"
    job_params = _params(fields.get("parameters"), f"{where}.parameters", problems)
    job_params += _params(fields.get("params"), f"{where}.params", problems)
    if origin == "inline":
        testdef = fields.get("repository")
        definition, steps = _testdef(testdef, f"{where}.repository", name, where, problems, notes)
        if definition is None:
            return None, []
        return _with(definition, params=definition.params + job_params), steps
    if origin != "git":
        problems.add(fields.get("from"), f"{where}.from", "expected inline or git (no url or tar here)")
        return None, []
    for key in ("repository", "path"):
        if key not in fields:
            problems.add(node, f"{where}.{key}", "missing")
    if "repository" not in fields or "path" not in fields:
        return None, []
    repository = string(fields["repository"], f"{where}.repository", problems)
    path = string(fields["path"], f"{where}.path", problems)
    revision = string(fields["revision"], f"{where}.revision", problems) if "revision" in fields else ""
    branch = string(fields["branch"], f"{where}.branch", problems) if "branch" in fields else ""
    shallow = flag_of(fields["shallow"], f"{where}.shallow", problems) if "shallow" in fields else True
    limit = _max_bytes(fields.get("serialsync_max_bytes"), f"{where}.serialsync_max_bytes", problems)
    include = _paths(fields.get("serialsync_files"), f"{where}.serialsync_files", problems)
    if not repository or not path:
        return None, []
    with tempfile.TemporaryDirectory(prefix="serialsync-testdef-") as scratch:
        checkout = Path(scratch) / "repository"
        error = clone(repository, checkout, revision=revision, branch=branch, shallow=shallow)
        if error:
            problems.add(fields["repository"], f"{where}.repository", error)
            return None, []
        file = checkout / path
        if not file.is_file():
            problems.add(fields["path"], f"{where}.path", f"no file {path!r} in {repository}")
            return None, []
        own = Problems(f"{repository}:{path}")  # a problem in the definition names its own file
        definition, steps = _testdef_file(file.read_text(encoding="utf-8", errors="replace"), name, where, own, notes)
        problems.items.extend(own.items)
        if definition is None:
            return None, []
        try:
            files = files_needed(checkout, path, include, limit)
        except ValueError as e:
            problems.add(fields["path"], f"{where}.path", f"{repository}: {e}")
            return None, []
        binary = [name for name, data, _ in files if b"\0" in data]
        if binary:
            # The board's awk cannot write a NUL byte: such files stay on the host, said once.
            files = tuple(f for f in files if f[0] not in binary)
            notes.append(
                (
                    fields["path"].start_mark.line + 1,
                    f"{where}: not copied to the board (NUL bytes): {', '.join(binary)}",
                )
            )
    definition = _with(
        definition, params=definition.params + job_params, files=files, directory=directory, origin=repository
    )
    return definition, steps


def _with(definition: Definition, **changes: object) -> Definition:
    return replace(definition, **changes)  # type: ignore[arg-type]


def _testdef_file(
    text: str, name: str, key: str, problems: Problems, notes: list[tuple[int | None, str]]
) -> tuple[Definition | None, list[Step]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problems.items.append(
            JobConfigError(
                f"not valid YAML: {getattr(e, 'problem', None) or e}",
                file=problems.source,
                line=mark.line + 1 if mark else None,
            )
        )
        return None, []
    return _testdef(root, "", name, key, problems, notes)


def _testdef(
    node: yaml.Node | None, where: str, name: str, key: str, problems: Problems, notes: list[tuple[int | None, str]]
) -> tuple[Definition | None, list[Step]]:
    """The body of a test definition: params, install, run.steps and parse."""
    at = f"{where}." if where else ""
    fields = mapping(node, where, _TESTDEF_KEYS, {"run"}, problems)
    if "install" in fields:
        notes.append(
            (fields["install"].start_mark.line + 1, f"{at}install is not run: serialsync installs nothing on a board")
        )
    params = _params(fields.get("params"), f"{at}params", problems)
    params += _params(fields.get("parameters"), f"{at}parameters", problems)
    run = mapping(fields.get("run"), f"{at}run", {"steps"}, {"steps"}, problems) if "run" in fields else {}
    steps: list[Step] = []
    steps_node = run.get("steps")
    if steps_node is not None and not isinstance(steps_node, yaml.SequenceNode):
        problems.add(steps_node, f"{at}run.steps", "expected a list of shell commands")
    elif steps_node is not None:
        for index, item in enumerate(steps_node.value):
            text = string(item, f"{at}run.steps[{index}]", problems)
            if text:
                steps.append(_keyed(step_of(item, text, f"{name}: {step_title(text)}"), key))
    parse = _parse(fields.get("parse"), f"{at}parse", problems) if "parse" in fields else None
    return Definition(key=key, name=name, params=params, parse=parse, stop_on_failure=True), steps


def _keyed(step: Step, key: str) -> Step:
    return replace(step, definition=key)


def _params(node: yaml.Node | None, where: str, problems: Problems) -> tuple[tuple[str, str], ...]:
    """name: value pairs set as shell variables; a name must be one, a value is text (as LAVA writes it)."""
    if node is None:
        return ()
    if not isinstance(node, yaml.MappingNode):
        problems.add(node, where, "expected a mapping of NAME: value")
        return ()
    out = []
    for key_node, value_node in node.value:
        name = str(getattr(key_node, "value", ""))
        if not _SHELL_NAME.match(name):
            problems.add(
                key_node, f"{where}.{name}", "not a shell variable name (A-Z a-z 0-9 _, not starting with a digit)"
            )
            continue
        value = construct(value_node)
        if isinstance(value, (list, dict)):
            problems.add(value_node, f"{where}.{name}", "expected a single value, not a list or a mapping")
            continue
        out.append((name, "" if value is None else str(value)))
    return tuple(out)


def _parse(node: yaml.Node, where: str, problems: Problems) -> Parse | None:
    fields = mapping(node, where, {"pattern", "fixupdict"}, {"pattern"}, problems)
    if "pattern" not in fields:
        return None
    pattern = string(fields["pattern"], f"{where}.pattern", problems)
    try:
        compiled = re.compile(pattern, re.M)
    except re.error as e:
        problems.add(fields["pattern"], f"{where}.pattern", f"not a regular expression: {e}")
        return None
    if "test_case_id" not in compiled.groupindex or "result" not in compiled.groupindex:
        problems.add(fields["pattern"], f"{where}.pattern", "needs the named groups test_case_id and result")
        return None
    fixup: list[tuple[str, str]] = []
    if "fixupdict" in fields:
        value = construct(fields["fixupdict"])
        if not isinstance(value, dict) or not all(str(v) in _RESULTS for v in value.values()):
            problems.add(fields["fixupdict"], f"{where}.fixupdict", f"expected a mapping to {', '.join(_RESULTS)}")
        else:
            fixup = [(str(k), str(v)) for k, v in value.items()]
    return Parse(pattern, tuple(fixup))


def _max_bytes(node: yaml.Node | None, where: str, problems: Problems) -> int:
    if node is None:
        return DEFAULT_MAX_BYTES
    value = construct(node)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        problems.add(node, where, "expected a number of bytes")
        return DEFAULT_MAX_BYTES
    return value


def _paths(node: yaml.Node | None, where: str, problems: Problems) -> tuple[str, ...]:
    if node is None:
        return ()
    value = construct(node)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems.add(node, where, "expected a list of paths in the repository")
        return ()
    return tuple(value)


# --- git and files --------------------------------------------------------------------
def clone(repository: str, into: Path, *, revision: str = "", branch: str = "", shallow: bool = True) -> str:
    """Clone repository (a URL or a local path) into a new directory; "" when done, else what went wrong."""
    argv = ["git", "clone", "--quiet"]
    if shallow and not revision:
        argv += ["--depth", "1"]
    if branch:
        argv += ["--branch", branch]
    source = str(Path(repository).resolve()) if Path(repository).exists() else repository
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}  # never wait for a password
    try:
        done = subprocess.run(
            [*argv, "--", source, str(into)], capture_output=True, text=True, timeout=GIT_TIMEOUT, env=env
        )
        if done.returncode == 0 and revision:
            done = subprocess.run(
                ["git", "-C", str(into), "checkout", "--quiet", revision], capture_output=True, text=True, env=env
            )
    except FileNotFoundError:
        return "cannot clone it: git is not installed on this host"
    except subprocess.TimeoutExpired:
        return f"cannot clone {repository}: git took longer than {int(GIT_TIMEOUT)} s"
    if done.returncode != 0:
        said = [line for line in done.stderr.strip().splitlines() if line.strip()]
        what = f"revision {revision!r} " if revision and "checkout" in " ".join(done.args) else ""
        return f"cannot clone {repository} {what}({said[-1] if said else 'git failed'}): check the URL or path"
    return ""


def files_needed(
    checkout: Path, path: str, include: tuple[str, ...] = (), limit: int = DEFAULT_MAX_BYTES
) -> tuple[tuple[str, bytes, bool], ...]:
    """The files of a checkout the definition at path needs on the board.

    The whole repository when it fits in limit (as LAVA copies it); else the
    definition's directory and the ``lib`` and ``utils`` directories beside
    its ancestors (Linaro's layout: automated/lib, automated/utils); or, when
    given, exactly the paths in include (and the definition itself).
    """
    everything = _files_under(checkout, checkout)
    if include:
        chosen = {path} | {f for f in everything if any(f == p or f.startswith(p.rstrip("/") + "/") for p in include)}
        what = "the files named in serialsync_files"
    elif sum((checkout / f).stat().st_size for f in everything) <= limit:
        chosen, what = set(everything), "the whole repository"
    else:
        own = str(Path(path).parent)
        shared = []
        for ancestor in [*Path(path).parents][1:]:
            shared += [str(ancestor / name) for name in SHARED_DIRS]
        roots = [own, *shared]
        chosen = {
            f for f in everything if any(own == "." or f == r or f.startswith(r.rstrip("/") + "/") for r in roots)
        }
        what = f"{own}/ and the lib/ and utils/ directories beside its parents"
    size = sum((checkout / f).stat().st_size for f in chosen)
    if size > limit:
        raise ValueError(
            f"{what} come to {size} bytes, over the {limit}-byte limit for typing files onto a board; "
            "list what the steps need in serialsync_files: [paths], or raise serialsync_max_bytes"
        )
    return tuple((f, (checkout / f).read_bytes(), os.access(checkout / f, os.X_OK)) for f in sorted(chosen))


def _files_under(root: Path, top: Path) -> list[str]:
    found = []
    for entry in sorted(root.iterdir()):
        if entry.name == ".git" or entry.is_symlink():
            continue  # the history stays on the host; a link may point off the copy
        if entry.is_dir():
            found += _files_under(entry, top)
        elif entry.is_file():
            found.append(str(entry.relative_to(top)))
    return found
