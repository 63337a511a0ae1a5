"""Load a job file in LAVA's MultiNode shape into the same validated Job.

    job_name: iperf
    timeouts: {job: {minutes: 20}, action: {minutes: 5}}
    protocols:
      lava-multinode:
        roles:
          server: {count: 1, connection: simulated, essential: true}
          client:
            devices:
              - {name: client1, connection: "socket://127.0.0.1:7001", pacing: echo}
        timeout: {minutes: 6}          # each multinode call
    actions:
      - boot: {role: [server, client], prompts: ['board\\$ '], auto_login: {...}}
      - test:
          role: [server]
          protocols:
            lava-multinode:
              - {request: lava-wait, messageID: client-up, message: {ip: $client_ip}}
          definitions:
            - from: inline
              name: server
              path: inline/server.yaml
              repository: {metadata: {format: Lava-Test Test Definition 1.0, name: server},
                           run: {steps: ["iperf3 -c $client_ip"]}}
      - command: {role: [server], name: collect, run: "echo done"}

What serialsync cannot do (deploy images) is skipped with its protocol
requests still made (``deploy``); test definitions, inline or from git, are
read by testdef.py. Keys LAVA knows that do not matter here are ignored; any
other key is an error, so a typo never passes silently.
"""

from __future__ import annotations

import re
from dataclasses import replace

import yaml

from ..coordinator import calls
from .fields import (
    DEVICE_OPTIONS,
    Problems,
    construct,
    device_options,
    did_you_mean,
    failure_patterns_of,
    flag_of,
    mapping,
    name_of,
    on_failure_of,
    regex_list,
    seconds,
    step_of,
    string,
)
from .model import Action, Definition, Device, Job, Login, Request, Step, Timeouts, step_title, variable_in
from .testdef import BOARD_TESTS_DIR, read_definition

APIS = calls.MESSAGE_CALLS
_KEY_RE = re.compile(r"[A-Za-z0-9_]{1,64}\Z")

# LAVA's own keys that change nothing here: accepted and ignored.
_IGNORED_TOP = {
    "device_type", "priority", "visibility", "context", "metadata", "notify", "tags", "secrets",
    "environment", "reboot_to_fastboot", "description",
}  # fmt: skip
_IGNORED_ACTION = {
    "method", "commands", "media", "connection", "failure_retry", "repeat", "namespace", "transfer_overlay",
    "kernel", "ramdisk", "dtb", "rootfs", "images", "os", "nfsrootfs", "modules", "type", "parameters",
    "soft_reboot", "expect_shell", "docker", "to", "connection-namespace", "boot_finished",
}  # fmt: skip
_IGNORED_ROLE = {"device_type", "context", "tags", "timeout", "request", "expect_role"}


def is_lava_job(root: yaml.Node) -> bool:
    """A mapping with 'actions' or 'protocols' at the top is LAVA's shape."""
    if not isinstance(root, yaml.MappingNode):
        return False
    keys = {k.value for k, _ in root.value if isinstance(k, yaml.ScalarNode)}
    return bool(keys & {"actions", "protocols", "job_name"})


def parse_lava_job(root: yaml.MappingNode, source: str, problems: Problems) -> Job:
    allowed = {"job_name", "timeouts", "protocols", "actions", "failure_patterns", "on_failure"}
    top = mapping(root, "", allowed, {"job_name", "protocols", "actions"}, problems, _IGNORED_TOP)
    name = string(top.get("job_name"), "job_name", problems) if "job_name" in top else ""
    notes: list[tuple[int | None, str]] = []
    timeouts, action_timeout = _timeouts(top.get("timeouts"), problems, notes)
    devices, roles, essential, call_timeout = _group(top.get("protocols"), problems)
    if call_timeout is not None:
        timeouts = replace(timeouts, call=call_timeout)
    actions = _actions(top.get("actions"), roles, action_timeout, problems, notes)
    patterns = failure_patterns_of(top.get("failure_patterns"), problems)
    on_failure = on_failure_of(top.get("on_failure"), problems)
    problems.raise_if_any()
    return Job(
        name=name,
        devices=tuple(devices),
        actions=tuple(actions),
        timeouts=timeouts,
        source=source,
        failure_patterns=patterns,
        on_failure=on_failure,
        essential_roles=frozenset(essential),
        notes=tuple(notes),
    )


_UNUSED_TIMEOUTS = {
    "actions": "timeouts.actions (per action name) is not used: timeouts.action applies to every action",
    "connection": "timeouts.connection is not used: serialsync holds its consoles open for the whole job",
    "connections": "timeouts.connections is not used: serialsync holds its consoles open for the whole job",
}


def _timeouts(
    node: yaml.Node | None, problems: Problems, notes: list[tuple[int | None, str]]
) -> tuple[Timeouts, float | None]:
    if node is None:
        return Timeouts(), None
    fields = mapping(node, "timeouts", {"job", "action", *_UNUSED_TIMEOUTS}, set(), problems)
    for key, text in _UNUSED_TIMEOUTS.items():
        if key in fields:
            notes.append((fields[key].start_mark.line + 1, text))
    job = seconds(fields["job"], "timeouts.job", problems) if "job" in fields else None
    action = seconds(fields["action"], "timeouts.action", problems) if "action" in fields else None
    defaults = Timeouts()
    return (
        Timeouts(
            job=job or defaults.job,
            boot=action or defaults.boot,
            step=action or defaults.step,
            call=defaults.call,
        ),
        action,
    )


def _group(node: yaml.Node | None, problems: Problems) -> tuple[list[Device], set[str] | None, set[str], float | None]:
    """The devices, the role names declared (None when the roles could not be read), essential roles, call timeout.

    When the group cannot be read (no protocols, a typo in lava-multinode or
    roles) that one problem is reported; the actions' roles are then not
    judged, so it does not come back as an unknown role in every action.
    """
    devices: list[Device] = []
    essential: set[str] = set()
    if node is None:  # reported as missing
        return devices, None, essential, None
    protocols = mapping(node, "protocols", {"lava-multinode"}, {"lava-multinode"}, problems)
    if "lava-multinode" not in protocols:
        return devices, None, essential, None
    multinode = mapping(
        protocols["lava-multinode"], "protocols.lava-multinode", {"roles", "timeout"}, {"roles"}, problems
    )
    call_timeout = None
    if "timeout" in multinode:
        call_timeout = seconds(multinode["timeout"], "protocols.lava-multinode.timeout", problems)
    roles_node = multinode.get("roles")
    if roles_node is None:
        return devices, None, essential, call_timeout
    if not isinstance(roles_node, yaml.MappingNode) or not roles_node.value:
        problems.add(roles_node, "protocols.lava-multinode.roles", "expected a mapping of role name to {count: N}")
        return devices, None, essential, call_timeout
    declared = {str(k.value) for k, _ in roles_node.value if isinstance(k, yaml.ScalarNode)}
    seen: set[str] = set()
    for key_node, value_node in roles_node.value:
        where = f"protocols.lava-multinode.roles.{key_node.value}"
        role = name_of(key_node, where, problems)
        allowed = {"count", "devices", "essential"} | DEVICE_OPTIONS
        fields = mapping(value_node, where, allowed, set(), problems, _IGNORED_ROLE)
        if flag_of(fields.get("essential"), f"{where}.essential", problems):
            essential.add(role)
        role_options = {k: v for k, v in fields.items() if k in DEVICE_OPTIONS}
        members: list[Device] = []
        if "devices" in fields:
            if "count" in fields:
                problems.add(fields["count"], f"{where}.count", "give either count or devices, not both")
            listed = fields["devices"]
            if not isinstance(listed, yaml.SequenceNode) or not listed.value:
                problems.add(listed, f"{where}.devices", "expected a list of {name: ..., connection: ...}")
            else:
                for index, item in enumerate(listed.value):
                    item_where = f"{where}.devices[{index}]"
                    item_fields = mapping(item, item_where, {"name"} | DEVICE_OPTIONS, {"name"}, problems)
                    name = name_of(item_fields["name"], f"{item_where}.name", problems) if "name" in item_fields else ""
                    # The device's own options over its role's, checked together.
                    merged = {**role_options, **{k: v for k, v in item_fields.items() if k != "name"}}
                    members.append(Device(name=name, role=role, **device_options(merged, item_where, problems)))
                    if name in seen:
                        problems.add(item_fields.get("name"), f"{item_where}.name", f"device name {name!r} used twice")
                    seen.add(name)
        else:
            count = construct(fields["count"]) if "count" in fields else None
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 256:
                problems.add(fields.get("count", value_node), f"{where}.count", "expected a count of devices, 1-256")
                count = 0
            shared = device_options(role_options, where, problems)
            for i in range(1, count + 1):
                name = f"{role}{i}"
                if name in seen:
                    problems.add(value_node, f"{where}.count", f"device name {name!r} used twice")
                seen.add(name)
                members.append(Device(name=name, role=role, **shared))
        devices.extend(members)
    return devices, declared, essential, call_timeout


def _actions(
    node: yaml.Node | None,
    roles: set[str] | None,
    default_timeout: float | None,
    problems: Problems,
    notes: list[tuple[int | None, str]],
) -> list[Action]:
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        problems.add(node, "actions", "expected a list of actions (boot, test, command, deploy)")
        return []
    actions: list[Action] = []
    for index, item in enumerate(node.value):
        where = f"actions[{index}]"
        if not isinstance(item, yaml.MappingNode) or len(item.value) != 1:
            problems.add(item, where, "expected one action: - boot: {...}, - test: {...}, - command: {...}")
            continue
        ((kind_node, body),) = item.value
        kind = kind_node.value
        where = f"{where}.{kind}"
        if kind not in ("boot", "test", "command", "deploy"):
            hint = did_you_mean(kind, {"boot", "test", "command", "deploy"})
            problems.add(
                kind_node, where, f"unknown action (serialsync runs boot, test, command; deploy is skipped){hint}"
            )
            continue
        action = _action(kind, body, where, roles, default_timeout, problems, notes)
        if action is not None:
            actions.append(action)
    return actions


def _action(
    kind: str,
    node: yaml.Node,
    where: str,
    roles: set[str] | None,
    default_timeout: float | None,
    problems: Problems,
    notes: list[tuple[int | None, str]],
) -> Action | None:
    own = {
        "boot": {"prompts", "auto_login"},
        "test": {"definitions", "steps", "name"},
        "command": {"name", "run"},
        "deploy": set(),
    }[kind]
    common = {"role", "timeout", "protocols"}
    ignored = _IGNORED_ACTION
    if kind == "deploy" and isinstance(node, yaml.MappingNode):
        # Whatever LAVA needs to deploy is skipped here; only role and requests matter.
        ignored = {k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)} - common
    fields = mapping(node, where, own | common, {"role"}, problems, ignored)
    action_roles = _roles(fields.get("role"), f"{where}.role", roles, problems)
    timeout = seconds(fields["timeout"], f"{where}.timeout", problems) if "timeout" in fields else default_timeout
    requests = _requests(fields.get("protocols"), f"{where}.protocols", roles, problems)
    line = node.start_mark.line + 1
    if kind == "boot":
        prompts = _prompts(fields.get("prompts"), f"{where}.prompts", problems)
        login = _login(fields["auto_login"], f"{where}.auto_login", problems) if "auto_login" in fields else None
        return Action("boot", action_roles, requests, timeout, prompts=prompts, login=login, name="boot", line=line)
    if kind == "test":
        steps, definitions = _test_steps(fields, where, problems, notes)
        name = string(fields["name"], f"{where}.name", problems) if "name" in fields else "test"
        return Action(
            "test", action_roles, requests, timeout, steps=steps, name=name, line=line, definitions=definitions
        )
    if kind == "command":
        name = name_of(fields.get("name"), f"{where}.name", problems) if "name" in fields else ""
        if "name" not in fields:
            problems.add(node, f"{where}.name", "missing")
        if "run" not in fields:
            problems.add(node, f"{where}.run", "missing: the shell command to run on this host")
        command = string(fields.get("run"), f"{where}.run", problems) if "run" in fields else ""
        return Action("command", action_roles, requests, timeout, command=command, name=name, line=line)
    return Action("deploy", action_roles, requests, timeout, name="deploy", line=line)


def _roles(node: yaml.Node | None, where: str, known: set[str] | None, problems: Problems) -> frozenset[str]:
    """The roles an action names; known is None when the group's roles could not be read (not judged then)."""
    items = node.value if isinstance(node, yaml.SequenceNode) else [node] if isinstance(node, yaml.ScalarNode) else None
    if not items:
        problems.add(node, where, "expected a role or a list of roles")
        return frozenset()
    roles = set()
    for item in items:
        role = item.value if isinstance(item, yaml.ScalarNode) else None
        if known is not None and role not in known:
            hint = did_you_mean(role, known)
            problems.add(item, where, f"unknown role {role!r} (the group's roles: {', '.join(sorted(known))}){hint}")
        elif role is not None:
            roles.add(role)
    return frozenset(roles)


def _prompts(node: yaml.Node | None, where: str, problems: Problems) -> tuple[str, ...]:
    if node is None:
        return ()
    return regex_list(node.value if isinstance(node, yaml.SequenceNode) else [node], where, problems)


def _login(node: yaml.Node, where: str, problems: Problems) -> Login | None:
    fields = mapping(
        node, where, {"login_prompt", "username", "password_prompt", "password", "login_commands"},
        {"login_prompt", "username"}, problems,
    )  # fmt: skip
    values = {k: string(v, f"{where}.{k}", problems) for k, v in fields.items() if k != "login_commands"}
    for key in ("login_prompt", "password_prompt"):  # pexpect patterns: regular expressions
        try:
            re.compile(values.get(key, "").encode())
        except re.error as e:
            problems.add(fields[key], f"{where}.{key}", f"not a regular expression: {e}")
    if ("password" in values) != ("password_prompt" in values):
        problems.add(node, where, "give password_prompt and password together")
    if "login_prompt" not in values or "username" not in values:
        return None
    return Login(
        values["login_prompt"], values["username"], values.get("password_prompt", ""), values.get("password", "")
    )


def _test_steps(
    fields: dict[str, yaml.Node], where: str, problems: Problems, notes: list[tuple[int | None, str]]
) -> tuple[tuple[Step, ...], tuple[Definition, ...]]:
    steps: list[Step] = []
    found: list[Definition] = []
    if "steps" in fields:  # serialsync's shorthand: the steps right in the action
        steps.extend(_step_list(fields["steps"], f"{where}.steps", "test", problems))
    definitions = fields.get("definitions")
    if definitions is not None:
        if not isinstance(definitions, yaml.SequenceNode):
            problems.add(definitions, f"{where}.definitions", "expected a list of test definitions")
        else:
            for index, item in enumerate(definitions.value):
                item_where = f"{where}.definitions[{index}]"
                numbers = "_".join(re.findall(r"\[(\d+)\]", item_where))
                name = getattr(dict((k.value, v) for k, v in getattr(item, "value", [])).get("name"), "value", "test")
                directory = f"{BOARD_TESTS_DIR}/{numbers}_{re.sub(r'[^A-Za-z0-9_.-]', '_', str(name))}"
                definition, own = read_definition(item, item_where, directory, problems, notes)
                if definition is not None:
                    found.append(definition)
                    steps.extend(own)
    if not steps and "steps" not in fields and definitions is None:
        problems.add(fields.get("role"), where, "a test action needs definitions (inline or from git) or steps")
    return tuple(steps), tuple(found)


def _step_list(node: yaml.Node, where: str, prefix: str, problems: Problems) -> list[Step]:
    if not isinstance(node, yaml.SequenceNode):
        problems.add(node, where, "expected a list of shell commands")
        return []
    steps = []
    for index, item in enumerate(node.value):
        text = string(item, f"{where}[{index}]", problems)
        if text:
            # Each definition is one script on the board: its path in the job tells them apart.
            steps.append(replace(step_of(item, text, f"{prefix}: {step_title(text)}"), definition=where))
    return steps


def _requests(node: yaml.Node | None, where: str, roles: set[str] | None, problems: Problems) -> tuple[Request, ...]:
    if node is None:
        return ()
    protocols = mapping(node, where, {"lava-multinode"}, set(), problems)
    listed = protocols.get("lava-multinode")
    if listed is None:
        return ()
    where = f"{where}.lava-multinode"
    if not isinstance(listed, yaml.SequenceNode):
        problems.add(listed, where, "expected a list of {request: ..., messageID: ...}")
        return ()
    requests = []
    for index, item in enumerate(listed.value):
        item_where = f"{where}[{index}]"
        fields = mapping(
            item, item_where, {"request", "messageID", "message", "role", "timeout", "action"},
            {"request", "messageID"}, problems,
        )  # fmt: skip
        api = str(fields["request"].value) if isinstance(fields.get("request"), yaml.ScalarNode) else ""
        if "request" in fields and api not in APIS:
            hint = did_you_mean(api, set(APIS))
            problems.add(fields["request"], f"{item_where}.request", f"expected one of {', '.join(APIS)}{hint}")
        message_id = name_of(fields["messageID"], f"{item_where}.messageID", problems) if "messageID" in fields else ""
        role = None
        if "role" in fields:
            role = str(fields["role"].value) if isinstance(fields["role"], yaml.ScalarNode) else ""
            if api != "lava-wait-all":
                problems.add(fields["role"], f"{item_where}.role", "only lava-wait-all takes a role")
            elif roles is not None and role not in roles:
                problems.add(fields["role"], f"{item_where}.role", f"unknown role {role!r}{did_you_mean(role, roles)}")
        message = _message(fields.get("message"), f"{item_where}.message", api, problems)
        timeout = seconds(fields["timeout"], f"{item_where}.timeout", problems) if "timeout" in fields else None
        requests.append(Request(api, message_id, message, role, timeout, item.start_mark.line + 1))
    return tuple(requests)


def _message(node: yaml.Node | None, where: str, api: str, problems: Problems) -> tuple[tuple[str, str], ...]:
    if node is None:
        return ()
    if api in ("lava-sync",):
        problems.add(node, where, "lava-sync carries no message")
        return ()
    if not isinstance(node, yaml.MappingNode):
        problems.add(node, where, "expected a mapping of key: value")
        return ()
    items = []
    for key_node, value_node in node.value:
        key = str(key_node.value)
        if not _KEY_RE.match(key):
            problems.add(key_node, f"{where}.{key}", "a key is 1-64 of A-Z a-z 0-9 _")
            continue
        if not isinstance(value_node, yaml.ScalarNode):
            problems.add(value_node, f"{where}.{key}", "expected a plain value")
            continue
        value = str(value_node.value)
        if api in ("lava-wait", "lava-wait-all") and variable_in(value) is None:
            problems.add(value_node, f"{where}.{key}", "a wait's message names where the value goes: $name")
            continue
        items.append((key, value))
    return tuple(items)
