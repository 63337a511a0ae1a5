"""`serialsync check`: a job's sync plan, and the calls that can never complete."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..job import load_job
from ..job.plan import PlannedCall, SyncPlan, sync_plan
from .common import EXIT_FAILED, EXIT_USAGE, Command, epilog


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", type=Path, help="the job file to check")
    parser.add_argument("--json", action="store_true", help="print the plan as one JSON document (see README)")


def _run(args: argparse.Namespace) -> int:
    return _check(args.job, args.json)


def _check(path: Path, as_json: bool) -> int:
    plan = sync_plan(load_job(path))
    if as_json:
        print(json.dumps(_plan_document(plan), indent=2, ensure_ascii=False))
    else:
        print(plan.render())
    return EXIT_FAILED if plan.problems else 0


def _plan_document(plan: SyncPlan) -> dict:
    """`check --json`: the plan as README's "Machine-readable output" describes it."""
    job = plan.job

    def call(c: PlannedCall) -> dict:
        helper = c.origin != "request"
        return {
            "api": c.api,
            "message_id": c.message_id,
            "wait_role": c.wait_role,
            "role": c.role,
            "line": c.line,
            "kind": "helper" if helper else "request",
            "step": c.origin if helper else None,
            "dynamic": c.dynamic,
        }

    return {
        "job": job.name,
        "source": job.source,
        "devices": [{"name": d.name, "role": d.role} for d in job.devices],
        "roles": {role: [call(c) for c in calls] for role, calls in plan.calls.items()},
        "findings": [{"line": f.line, "text": f.text, "blocking": f.blocking} for f in plan.findings],
    }


CHECK = Command(
    "check",
    "print a job's sync plan per role and flag calls that can never complete",
    epilog(
        """\
  serialsync check job.yaml              the sync plan per role, problems and notes
  serialsync check --json job.yaml       the same as one JSON document
""",
        (0, "no problem found"),
        (EXIT_FAILED, "a call can never complete"),
        (EXIT_USAGE, "bad job file or command line"),
    ),
    _arguments,
    _run,
)
