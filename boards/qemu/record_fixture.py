"""Record fixtures/recorded/qemu: the group job of fixtures/recorded/group-job.yaml on three
emulated boards (echo on, so each reply's echo is in the recording), with kernel lines
printed onto the consoles between the calls.

    python3 boards/qemu/record_fixture.py [OUTPUT_DIR]

The tests replay the recording as a group (tests/integration/test_replay_group.py):
no qemu is needed for that.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import board as qemu  # noqa: E402

from serialsync.job import parse_job, run_job  # noqa: E402

NOISE = "i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo \"<0>usb 1-1: noise line $i\" > /dev/kmsg; done"


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "fixtures" / "recorded" / "qemu"
    job_text = (ROOT / "fixtures" / "recorded" / "group-job.yaml").read_text()
    cache = qemu.ensure_built(Path.home() / ".cache" / "serialsync" / "qemu-board")
    boards = [qemu.QemuBoard(cache, name=name) for name in ("server1", "client1", "client2")]
    try:
        for board in boards:
            job_text = job_text.replace(
                f"{{name: {board.name}, role: ",
                f"{{name: {board.name}, connection: '{board.spec}', install_helpers: true, pacing: echo, role: ",
            )
        job_text = job_text.replace(', connection: "simulated:dash"}', "}").replace(
            ', connection: "simulated:busybox"}', "}"
        )
        job_text = job_text.replace("    steps:\n", f"    steps:\n      - |\n        {NOISE}\n")
        result = run_job(parse_job(job_text, source="group-job.yaml"), out)
        if not result.passed:
            print([(d.name, d.reason) for d in result.devices], file=sys.stderr)
            return 1
    finally:
        for board in boards:
            board.close()
    for leftover in [*out.glob("*.timestamped.log"), out / "results.xml"]:
        leftover.unlink(missing_ok=True)
    for directory in [p for p in out.iterdir() if p.is_dir()]:
        shutil.rmtree(directory)
    print(f"recorded into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
