"""What every benchmark gets: the run's options and a place for its files."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Context:
    quick: bool  # few repetitions, small groups: the smoke test's mode
    workdir: Path  # scratch space, removed after the run

    def progress(self, text: str) -> None:
        """Progress goes to stderr, so stdout holds only the table."""
        print(f"bench: {text}", file=sys.stderr, flush=True)
