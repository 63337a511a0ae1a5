"""A validated job: what the loader produces and the runner consumes."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field

from ..transports import ConnectionSpec, parse_connection

_VARIABLE_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)\Z")


def variable_in(value: str) -> str | None:
    """``name`` when a request's message value is ``$name`` (a value received earlier), else None."""
    found = _VARIABLE_RE.match(value)
    return found.group(1) if found else None


@dataclass(frozen=True)
class Timeouts:
    job: float = 3600.0  # the whole job
    boot: float = 120.0  # until the board's shell answers
    step: float = 600.0  # one shell step
    call: float = 300.0  # one multinode call (lava-sync, lava-wait, ...)
    connect: float = 30.0  # a console that refuses the connection (or is not there yet) is tried again this long


@dataclass(frozen=True)
class Device:
    name: str
    role: str
    # Parsed once, by the loader (which reports a bad spec with file, line and field) or here from
    # text given in Python; text that does not parse is kept, so opening it fails as it always did.
    connection: ConnectionSpec | str = "simulated"
    pacing: str = "none"  # none | fixed | echo: how bytes are typed into the board
    character_delay: float = 0.0  # seconds between typed characters (pacing: fixed)
    install_helpers: bool = False  # type the helpers onto a board whose image lacks them
    kmsg: bool = False  # helpers print markers through /dev/kmsg (the console must be the kernel's)

    def __post_init__(self) -> None:
        if not isinstance(self.connection, ConnectionSpec):
            with contextlib.suppress(ValueError):
                object.__setattr__(self, "connection", parse_connection(self.connection))


# Console lines that mean the board is gone: it leaves the group at once, so
# the calls of other devices that needed it fail now, not at their timeout.
ON_FAILURE = ("continue", "end-group")

DEFAULT_FAILURE_PATTERNS = (
    r"Kernel panic - not syncing",
    r"Internal error: Oops",
    r"\bOops: [0-9a-fx]+ \[#\d+\]",
    r"reboot: Restarting system",
    r"^U-Boot \d{4}\.\d{2}",
)


@dataclass(frozen=True)
class Request:
    """A multinode call the host makes itself at the start of an action (LAVA's protocol requests)."""

    api: str  # lava-send | lava-sync | lava-wait | lava-wait-all
    message_id: str
    # lava-send: key -> value, where "$name" is a value received earlier.
    # lava-wait(-all): key -> "$name": the received value of key is kept as name.
    message: tuple[tuple[str, str], ...] = ()
    role: str | None = None  # lava-wait-all: only the devices of this role
    timeout: float | None = None  # default: timeouts.call
    line: int | None = None  # in the job file


STEP_TITLE_CHARS = 80  # how much of a command names its step


def step_title(command: str) -> str:
    """A step's name when the job gives none: its first command line, short and stable.

    Comments and blank lines are passed over, runs of blanks become one, and
    a long line is cut (with "...") so reports stay readable.
    """
    for line in command.splitlines():
        text = " ".join(line.split())
        if text and not text.startswith("#"):
            break
    else:
        text = " ".join(command.split()) or "(empty step)"
    return text if len(text) <= STEP_TITLE_CHARS else text[: STEP_TITLE_CHARS - 3].rstrip() + "..."


@dataclass(frozen=True)
class Step:
    """One shell command run on the board; a test case passing on exit status 0."""

    command: str
    name: str  # the test case's name
    line: int | None = None  # of the command's first line in the job file
    # The command's lines are the file's lines (a | block, or one line); a folded
    # or quoted scalar joins them, so only its first line can be named.
    lines_match: bool = True
    # Steps of one definition share one script's state on the board; ``exit``
    # ends the definition. Consecutive steps with the same value form one.
    definition: str = ""


@dataclass(frozen=True)
class Login:
    login_prompt: str
    username: str
    password_prompt: str = ""
    password: str = ""


@dataclass(frozen=True)
class Parse:
    """A test definition's ``parse:``: output lines matching pattern become test cases (LAVA's semantics)."""

    pattern: str  # a regular expression with named groups test_case_id, result, measurement, units
    fixupdict: tuple[tuple[str, str], ...] = ()  # a result as printed -> pass | fail | skip | unknown


@dataclass(frozen=True)
class Definition:
    """One test definition of a test action: its steps run as one script on the board."""

    key: str  # what its steps carry as Step.definition
    name: str
    # Shell variables set before the first step, in order: the definition's
    # params (defaults), then the job's parameters (which win, set later).
    params: tuple[tuple[str, str], ...] = ()
    parse: Parse | None = None
    # LAVA's run.sh starts with `set -e`: a failing step ends the definition.
    stop_on_failure: bool = False
    # Files the steps need (the definition's repository subtree), typed onto
    # the board before it runs; the steps then run from that directory.
    files: tuple[tuple[str, bytes, bool], ...] = ()  # (path in the repository, content, executable)
    directory: str = ""  # where the files go and the steps run, under the board's directory ("": no cd)
    origin: str = ""  # where the files come from (a repository), for messages


@dataclass(frozen=True)
class Action:
    """What a device does, in order: boot, test or a host-side command, and the requests before it."""

    kind: str  # boot | test | command
    roles: frozenset[str]
    requests: tuple[Request, ...] = ()
    timeout: float | None = None
    steps: tuple[Step, ...] = ()  # test
    prompts: tuple[str, ...] = ()  # boot: the shell's prompts (regular expressions)
    login: Login | None = None  # boot
    command: str = ""  # command: run on this host with sh -c
    name: str = ""
    line: int | None = None
    definitions: tuple[Definition, ...] = ()  # test: what its steps' definition keys stand for

    def definition(self, key: str) -> Definition | None:
        return next((d for d in self.definitions if d.key == key), None)


@dataclass(frozen=True)
class Job:
    name: str
    devices: tuple[Device, ...]
    actions: tuple[Action, ...]
    timeouts: Timeouts = field(default_factory=Timeouts)
    source: str = "<job>"
    failure_patterns: tuple[str, ...] = DEFAULT_FAILURE_PATTERNS
    # What one device's failure does to the others: "continue" fails only the
    # calls that needed it (a server with independent clients keeps serving);
    # "end-group" stops every device. A failed device of an essential role
    # ends the group either way.
    on_failure: str = "continue"
    essential_roles: frozenset[str] = frozenset()
    # (line, text): what the file asks for that is accepted but not acted on
    # (LAVA settings with no meaning here); shown with the plan's findings.
    notes: tuple[tuple[int | None, str], ...] = ()

    def ends_group(self, device: Device) -> bool:
        return self.on_failure == "end-group" or device.role in self.essential_roles

    def actions_of(self, device: Device) -> tuple[Action, ...]:
        return tuple(action for action in self.actions if device.role in action.roles)

    def steps_of(self, device: Device) -> tuple[str, ...]:
        """The shell commands of every test action of the device, in order."""
        return tuple(step.command for action in self.actions_of(device) for step in action.steps)
