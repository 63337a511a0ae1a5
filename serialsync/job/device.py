"""One device's part of a job: its actions in order, with the protocol requests before each.

Requests (LAVA's ``protocols: lava-multinode:`` in an action) are calls the
host makes on the device's behalf, at the start of the action, before the
board is even reachable if need be (a server waiting during boot for its
clients). A wait's ``message: {key: $name}`` keeps the received value as
``name``: later requests can send it (``$name``), and before each later test
action it is exported on the board as a shell variable, as data.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import replace

import pexpect

from .._time import Deadline, RunClock, format_seconds
from ..console import ConsoleSession
from ..coordinator import Coordinator, calls
from ..errors import BoardNotReady, CoordinatorError, GroupTimeout, SerialsyncError
from ..install import DEFAULT_DIR, install_files, install_helpers
from ..watcher import CallRecord
from .board import (
    OUTPUT_TAIL,
    DefinitionRun,
    failure_pattern,
    log_in,
    prepare_console,
    run_command,
    shell_assignment,
    wait_prompt,
    wait_ready,
    watch_console,
)
from .model import Action, Definition, Device, Job, Request, Step, variable_in
from .results import StepResult, skipped

Event = Callable[[str], None]
BOARD_DIR = "/tmp/serialsync"  # a real board's: the helpers' bin/ and the definitions' tests/


class _BoardGone(SerialsyncError):
    """The board failed while its host waited in a group call for it."""


class DeviceRun:
    def __init__(
        self,
        job: Job,
        device: Device,
        coordinator: Coordinator,
        session: ConsoleSession,
        deadline: Deadline,
        *,
        event: Event,
        record: Callable[[CallRecord], None],
        started: Callable[[str, str, str | None], None] = lambda api, message_id, role: None,
        clock: RunClock | None = None,
        interrupted: Callable[[], str | None] = lambda: None,
        board_dir: str = BOARD_DIR,
    ) -> None:
        self.job = job
        self.device = device
        self.coordinator = coordinator
        self.session = session
        self.deadline = deadline
        self.event = event
        self.record = record
        self.started = started
        self.clock = clock or RunClock()
        self.interrupted = interrupted
        self.board_dir = board_dir  # where on the board the files of definitions go
        self.steps: list[StepResult] = []
        self.reason = ""
        self.variables: dict[str, bytes] = {}
        self._exported: dict[str, bytes] = {}
        self._ready = False
        self._failure = failure_pattern(job)
        self._typed = 0  # steps typed so far: each one's end marker is numbered
        self._ran: list[Step] = []  # steps with a result (run or skipped)
        self._lava_nacks: list[str] = []  # nacked calls of LAVA's own helpers, in order
        self.test_cases: list[dict] = []  # what parse patterns found in the steps' output

    # --- the whole run -----------------------------------------------------------------
    def run(self) -> None:
        """Every action of the device, in order; sets ``reason`` when something failed.

        The steps of actions it never reached are reported as skipped, so a
        run's test count does not depend on where it stopped.
        """
        actions = self.job.actions_of(self.device)
        done = 0
        for action in actions:
            if (why := self.expelled()) is not None:
                self.reason = self.reason or f"stopped before {action.kind} {action.name!r}: {why}"
                break
            self.event(f"{action.kind} {action.name!r}" if action.name else action.kind)
            done += 1
            if not self._requests(action):
                self._skip_rest(action)
                break
            keep_going = {"boot": self._boot, "test": self._test, "command": self._command}.get(
                action.kind, lambda _action: True
            )(action)
            if not keep_going:
                self._skip_rest(action)
                break
        why = self.expelled()
        if why is not None and why not in self.reason:
            self.reason = f"{self.reason or 'stopped'}: {why}"
        for action in actions[done:]:
            self._skip_rest(action)

    def _skip_rest(self, action: Action) -> None:
        """The action's steps that have no result yet: skipped, saying why."""
        seen = {id(step) for step in self._ran}
        why = self.reason or self.expelled() or "the device stopped"
        for step in action.steps:
            if id(step) not in seen:
                self._typed += 1
                self.steps.append(skipped(self._typed, step.command, step.name, f"not run: {why}"))
                self._ran.append(step)
        if action.kind == "command" and not any(s.name == f"command-{action.name}" for s in self.steps):
            self._typed += 1
            self.steps.append(skipped(self._typed, action.command, f"command-{action.name}", f"not run: {why}"))

    def expelled(self) -> str | None:
        """Why this device was made to leave (the group ended), if it was."""
        try:
            return self.coordinator.departed().get(self.device.name)
        except CoordinatorError:
            return None  # Redis restarting: look again later; the calls wait it out too

    def _fail(self, reason: str) -> None:
        self.reason = self.reason or reason
        self.event(f"failed: {reason}")
        if self.job.ends_group(self.device) and self.expelled() is None:
            self.event("its failure ends the group")
            self.coordinator.end_group(self.device.name, self.reason)

    def _timeout(self, action: Action, default: float) -> float:
        return min(action.timeout or default, max(self.deadline.remaining, 0.0))

    # --- requests --------------------------------------------------------------------------
    def _requests(self, action: Action) -> bool:
        for request in action.requests:
            started = self.clock.now()
            deadline = Deadline.after(min(request.timeout or self.job.timeouts.call, max(self.deadline.remaining, 0.0)))
            if request.api != "lava-send":
                self.started(request.api, request.message_id, request.role)
            try:
                if request.api == "lava-send":
                    self._request(request, deadline)
                else:
                    self._request_watching_console(request, deadline)
            except _BoardGone as e:
                self.record(self._call_record(request, started, str(e)))
                return False  # the device has failed already
            except (CoordinatorError, KeyError) as e:
                reason = e.args[0] if isinstance(e, KeyError) else str(e)
                missing = e.missing if isinstance(e, GroupTimeout) else ()
                self.record(self._call_record(request, started, reason, missing))
                self._fail(f"{request.api} {request.message_id} (line {request.line}) failed: {reason}")
                return False
            self.record(self._call_record(request, started, ""))
        return True

    def _request_watching_console(self, request: Request, deadline: Deadline) -> None:
        """A blocking request in its own thread, while this one reads the board's console."""
        done = threading.Event()
        errors: list[BaseException] = []

        def call() -> None:
            try:
                self._request(request, deadline)
            except BaseException as e:  # re-raised on the device's thread below
                errors.append(e)
            finally:
                done.set()

        thread = threading.Thread(target=call, name=f"{self.device.name}-request", daemon=True)
        thread.start()
        gone = watch_console(self.session, done, self._failure)
        if gone is not None:
            # The board failed while its host waited for the group: the device fails (which
            # may end the group) and leaves, which ends the call at once.
            why = f"{gone} while waiting in {request.api} {request.message_id}"
            self._fail(why)
            if self.expelled() is None:
                self.coordinator.leave(self.device.name, why)
        thread.join()
        if gone is not None:
            raise _BoardGone(why)  # even if the call had just completed: the board is gone
        if errors:
            raise errors[0]

    def _request(self, request: Request, deadline: Deadline) -> None:
        coordinator, me = self.coordinator, self.device.name
        sending = request.api == calls.SEND
        data = calls.call(
            coordinator,
            request.api,
            me,
            request.message_id,
            deadline,
            data={k: self._value(v) for k, v in request.message} if sending else None,
            role=request.role,
        )
        if data is not None:  # a wait: keep what it received where the request says
            order = [m.device for m in coordinator.members]
            for key, target in request.message:
                senders = [d for d in order if key in data.get(d, {})]
                if not senders:
                    raise KeyError(f"no device sent {key!r} with {request.message_id!r}")
                self.variables[variable_in(target) or target] = data[senders[0]][key]

    def _value(self, text: str) -> bytes:
        name = variable_in(text)
        if name is None:
            return text.encode()
        if name not in self.variables:
            raise KeyError(f"{text} was not received by an earlier wait of this device")
        return self.variables[name]

    def _call_record(
        self, request: Request, started: float, reason: str, missing: tuple[str, ...] = ()
    ) -> CallRecord:
        return CallRecord(
            device=self.device.name,
            api=request.api,
            message_id=request.message_id,
            ok=not reason,
            reason=reason,
            waited=self.clock.now() - started,
            role=request.role,
            finished=self.clock.now(),
            missing=missing,
        )

    # --- actions ---------------------------------------------------------------------------
    def _boot(self, action: Action) -> bool:
        timeout = self._timeout(action, self.job.timeouts.boot)
        name = "the boot action's timeout" if action.timeout else "timeouts.boot"
        try:
            deadline = Deadline.after(timeout)
            if action.login is not None:
                log_in(self.session, action.login, deadline.remaining)
            if action.prompts:
                wait_prompt(self.session, action.prompts, deadline.remaining)
            self._ready = False
            self._get_ready(deadline.remaining, name)
        except pexpect.TIMEOUT:
            what = "the login prompt" if action.login is not None else "the boot prompt"
            self._fail(f"boot failed: {what} did not show within {name} ({format_seconds(timeout)})")
            return False
        except pexpect.EOF:
            self._fail("boot failed: the console closed")
            return False
        except (SerialsyncError, OSError) as e:
            self._fail(f"boot failed: {str(e).splitlines()[0] if str(e) else 'no reason given'}")
            return False
        return True

    def _get_ready(self, timeout: float, timeout_name: str = "timeouts.boot") -> None:
        """The board's shell answers, its console is prepared, the helpers are there."""
        if self._ready:
            return
        wait_ready(self.session, timeout, timeout_name=timeout_name, stop=self.expelled)
        if not self.device.connection.startswith("simulated"):
            prepare_console(self.session, self.device, self.event)
        if self.device.install_helpers:
            files = install_helpers(self.session, timeout=min(self.job.timeouts.step, self.deadline.remaining))
            self.event(f"helpers installed ({len(files)} files, checksums verified)")
            run_command(self.session, f"export PATH={DEFAULT_DIR}:$PATH", self.job.timeouts.step)
        self._ready = True

    def _test(self, action: Action) -> bool:
        try:
            self._get_ready(min(self.job.timeouts.boot, self.deadline.remaining))
        except BoardNotReady as e:
            self._fail(str(e))
            return False
        for name, value in self.variables.items():
            if self._exported.get(name) != value:
                status, output = run_command(self.session, shell_assignment(name, value), 30)
                if status != 0:
                    self._fail(f"cannot set ${name} on the board: {output.strip()[-200:]}")
                    return False
                self._exported[name] = value
        number = 0
        for steps in _definitions(action.steps):
            if (why := self.expelled()) is not None:
                self.reason = self.reason or f"stopped before {steps[0].name}: {why}"
                return False
            if not self._definition(action, steps, number):
                return False
            number += len(steps)
        return True

    def _definition(self, action: Action, steps: list[Step], number: int) -> bool:
        """One definition's steps as one script on the board; False when the device must stop."""
        first = self._typed + 1
        self._typed += len(steps)
        definition = action.definition(steps[0].definition)
        if definition is not None and definition.files and not self._copy_files(definition, steps):
            return False
        run = DefinitionRun(
            self.session,
            first,
            [(s.command, s.name) for s in steps],
            self._failure,
            self.clock,
            prelude=_prelude(definition, self.board_dir),
            parse=definition.parse if definition is not None else None,
        )
        watcher = self.session.watcher
        if watcher is not None:
            watcher.allow_retries(True)  # a helper's damaged marker may now be asked for again
        run.start()
        keep_going = True
        for offset, step in enumerate(steps):
            if offset:
                if (why := self.expelled()) is not None:
                    run.stop()
                    self.reason = self.reason or f"stopped before {step.name}: {why}"
                    break
                run.go()
            self.event(f"step {number + offset + 1}/{len(action.steps)}: {step.name}")
            nacks_before = len(self._lava_nacks)
            result = run.wait_step(self._timeout(action, self.job.timeouts.step), self.expelled)
            if result.result == "fail" and result.reason.startswith("stopped") and self.interrupted():
                result = replace(result, result="skip", reason=f"not finished: {self.interrupted()}")
            if result.result == "pass" and len(self._lava_nacks) > nacks_before:
                # LAVA's own helper exits 0 on a nack; in LAVA the failed call fails the test job.
                result = replace(result, result="fail", reason=self._lava_nacks[nacks_before])
                run.stop()
                run.ended = "a multinode call failed"
            self.steps.append(result)
            self._ran.append(step)
            if result.result == "fail":
                self._fail(f"step {number + offset + 1} ({result.name!r}) failed: {result.reason}")
            if run.ended is not None:
                # lava-test-raise and a failed LAVA multinode call end the device's job, as in LAVA.
                keep_going = not run.ended.startswith(("lava-test-raise", "a multinode call failed"))
                break
        why = run.ended or self.reason
        for result in run.not_run(f"not run: {why}"):
            self.steps.append(result)
        self._ran.extend(steps)
        self.test_cases.extend(run.test_cases)
        run.finish()
        if watcher is not None:
            watcher.allow_retries(False)
        if not run.console_known or self.expelled() is not None or not keep_going:
            return False  # the group ended, the job was ended, or the console is in an unknown state
        return True

    def board_call(self, call: CallRecord) -> None:
        """A call the board's helper made (the watcher served it): a nacked LAVA one fails its step."""
        if not call.ok and call.dialect == "lava":
            what = f"{call.api} {call.message_id or ''}".rstrip()
            self._lava_nacks.append(f"{what} failed: {call.reason}")

    def _copy_files(self, definition: Definition, steps: list[Step]) -> bool:
        """The definition's files onto the board (checksummed), before its steps; False if they cannot be."""
        size = sum(len(data) for _, data, _ in definition.files)
        directory = f"{self.board_dir}/{definition.directory}"
        self.event(f"copying {len(definition.files)} files ({size} bytes) of {definition.origin} to {directory}")
        try:
            install_files(
                self.session,
                list(definition.files),
                directory,
                timeout=min(self.job.timeouts.step, max(self.deadline.remaining, 1.0)),
                progress=lambda text: self.event(f"  copied {text}"),
            )
        except SerialsyncError as e:
            self._fail(f"cannot copy the files of {definition.name!r} to the board: {e}")
            for step in steps:
                self.steps.append(skipped(self._typed, step.command, step.name, f"not run: {e}"))
                self._ran.append(step)
            return False
        return True

    def _command(self, action: Action) -> bool:
        """A command on this host (the job file's own), a test case of its own."""
        self._typed += 1
        name = f"command-{action.name}"
        started = self.clock.now()
        deadline = Deadline.after(self._timeout(action, self.job.timeouts.step))
        # Its own session, so that a timeout ends everything it started, not only sh.
        process = subprocess.Popen(
            ["sh", "-c", action.command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        reason = ""
        while True:
            try:
                # In slices: an interrupted run or an ended group stops the command too.
                output, _ = process.communicate(timeout=min(1.0, deadline.remaining))
                status = process.returncode
                reason = "" if status == 0 else f"exit status {status}"
                break
            except subprocess.TimeoutExpired:
                why = self.expelled()
                if why is None and not deadline.expired:
                    continue
                os.killpg(process.pid, signal.SIGKILL)
                output, _ = process.communicate()
                status = None
                reason = f"stopped: {why}" if why else f"timed out after {format_seconds(deadline.timeout)}"
                break
        tail = output[-OUTPUT_TAIL:].decode("utf-8", "replace")
        ended = self.clock.now()
        result = StepResult(
            self._typed, action.command, "fail" if reason else "pass", status,
            ended - started, reason, tail, name, **self.clock.span(started, ended),
        )  # fmt: skip
        self.steps.append(result)
        if reason:
            self._fail(f"{name} failed: {reason}")
        return True


def _prelude(definition: Definition | None, board_dir: str) -> list[str]:
    """What runs before a definition's first step, as in LAVA's run.sh: parameters, set -e, cd."""
    if definition is None:
        return []
    lines = [shell_assignment(name, value.encode(), export=False) for name, value in definition.params]
    if definition.stop_on_failure:
        lines.append("set -e")
    if definition.directory:
        lines.append(f"cd {shlex.quote(f'{board_dir}/{definition.directory}')}")
    return lines


def _definitions(steps: tuple[Step, ...]) -> list[list[Step]]:
    """Consecutive steps of the same definition, in order."""
    groups: list[list[Step]] = []
    for step in steps:
        if groups and groups[-1][0].definition == step.definition:
            groups[-1].append(step)
        else:
            groups.append([step])
    return groups


def never_ran(job: Job, device: Device, reason: str) -> list[StepResult]:
    """Every step of a device that never got to run any, skipped: the test count stays the same."""
    results = []
    for action in job.actions_of(device):
        commands = [(s.command, s.name) for s in action.steps]
        if action.kind == "command":
            commands.append((action.command, f"command-{action.name}"))
        for command, name in commands:
            results.append(skipped(len(results) + 1, command, name, f"not run: {reason}"))
    return results
