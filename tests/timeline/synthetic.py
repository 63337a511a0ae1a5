"""A made-up run's output directory of any size, for the timeline's size and speed tests."""

from __future__ import annotations

import json
from pathlib import Path


def synthetic_run(directory: Path, devices: int, calls: int, *, step: float = 0.4) -> Path:
    """*devices* devices (one server, the rest clients) making about *calls* calls in all:
    rounds of `lava-sync tick` (the same ID every time) and a send/wait-all pair every 5th round."""
    directory.mkdir(parents=True, exist_ok=True)
    names = [f"board{i:02d}" for i in range(devices)]
    out = []
    for d, name in enumerate(names):
        rounds = max(1, calls // devices + (d < calls % devices))
        role = "server" if d == 0 else "client"
        bars, console, now = [], [], 0.05 * d
        for r in range(rounds):
            start = r * step + 0.01 * d
            end = r * step + step * 0.8
            api, mid, wait_role = "lava-sync", "tick", None
            if r % 5 == 4:
                api, mid, wait_role = (
                    ("lava-send", f"data-{r}", None) if d else ("lava-wait-all", f"data-{r}", "client")
                )
                end = start + 0.001 if d else end
            ok = not (r == rounds - 1 and d == devices - 1)
            bars.append(
                {
                    "device": name, "api": api, "message_id": mid, "ok": ok,
                    "reason": "" if ok else "timed out after 30 s waiting for sync 'tick': board00 never reached it",
                    "waited": end - start, "role": wait_role, "start": round(start, 3), "end": round(end, 3),
                    "started_at": "", "ended_at": "", "kind": "helper",
                }
            )  # fmt: skip
            console += [
                f"[{start - now:10.3f}] + {api} {mid}",
                f"[{start - now:10.3f}] <LAVA_MULTI_NODE> <LAVA_{api[5:].upper().replace('-', '_')} {mid}>",
                f"[{end - now:10.3f}] round {r} done on {name}: some output of the test to show",
            ]
        steps = [
            {"index": 1, "name": "the-loop", "command": "while :; do lava-sync tick; done", "result": "pass",
             "exit_status": 0, "duration": rounds * step, "reason": "", "output_tail": "", "start": now,
             "end": rounds * step, "started_at": "", "ended_at": ""},
        ]  # fmt: skip
        out.append(
            {
                "name": name, "role": role, "connection": "simulated", "result": "pass", "reason": "",
                "duration": rounds * step - now, "steps": steps, "calls": bars, "console_log": "", "dropped": {},
                "test_cases": [], "start": now, "end": rounds * step, "started_at": "", "ended_at": "",
            }
        )  # fmt: skip
        (directory / f"{name}.console.timestamped.log").write_text("\n".join(console) + "\n", encoding="utf-8")
    rounds = max(1, -(-calls // devices))
    results = {
        "job": f"synthetic-{devices}x{calls}", "result": "fail", "duration": rounds * step, "devices": out,
        "started_at": "2026-01-01T00:00:00.000+00:00", "ended_at": "", "start": 0.0, "end": rounds * step,
        "interrupted": "", "hostname": "test", "group_events": [],
    }  # fmt: skip
    (directory / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return directory
