"""Console output made readable: terminal escape sequences, recognised in one place.

CSI (colours, cursor moves), OSC (a window title: up to BEL or ST, or to the
line's end when cut off) and the two-character ones. Each place that shows a
board's output removes these, and the control characters it cannot show.
"""

from __future__ import annotations

import re

_ESCAPE = r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)?|[@-Z\\-_])"
ESCAPES = re.compile(_ESCAPE)
ESCAPES_IN_BYTES = re.compile(_ESCAPE.encode())
