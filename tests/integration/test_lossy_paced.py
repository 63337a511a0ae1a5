"""Echo pacing over a lossy link both ways, faults from the first byte typed: no garbled line ever runs.

Four boards (busybox, dash, bash, dash) type their step through a hop that
drops, changes, doubles and adds bytes each way. Every value must arrive
exact, no shell may be handed a garbled line (it would refuse it, or run
something else and send other values), and no board may be left waiting.
The long run (>= 1000 calls, and 1e-2 per byte) is `python -m benchmarks.faults`.
"""

from __future__ import annotations

import pytest

from benchmarks.faults import fault_run

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_lossy_paced_group_runs_no_garbled_line_and_loses_nothing(tmp_path, seed):
    run = fault_run(tmp_path, rounds=4, rate=2e-3, pacing="echo", seed=seed, timeout=120)
    assert sum(run.injected.values()) > 20, run.injected  # the link was lossy indeed
    assert run.refused_lines == 0, run.refusals
    assert run.wrong_values == 0, run.wrong
    assert run.blocked == [], {name: run.tails[name] for name in run.blocked}
    assert run.calls == 4 * 3 * 4 and run.nacks == 0, run.nack_reasons
