"""A board behind a bootloader, on a pty: U-Boot's habits, then a shell.

It prints console noise (including SERIAL and SYNC1, as a kernel config dump
would), then counts down; any byte received during the countdown stops it at
its own prompt ("=> "), where it answers `echo` the way U-Boot's does: quotes
removed, nothing expanded. Otherwise it boots: prints a kernel banner and
execs a real shell with the prompt "board$ ". Every byte it received before
the shell started is written to the file named by $BOOTLOADER_LOG.

usage: bootloader.py SHELL [COUNTDOWN_SECONDS]
"""

from __future__ import annotations

import os
import select
import shlex
import sys
import termios
import time
import tty

shell = sys.argv[1]
countdown = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
received = open(os.environ["BOOTLOADER_LOG"], "wb")


def say(text: str) -> None:
    os.write(1, text.replace("\n", "\r\n").encode())


say("\nU-Boot SPL 2024.01 (Jan 01 2024 - 00:00:00 +0000)\n")
say("CONFIG_SERIAL_8250=y CONFIG_SERIAL_CORE=y SERIAL SYNC1 deadbeef>\n")
say("serial@7e201000: SERIAL driver ready; SYNC1 sync line 0123abcd >\n")
old = termios.tcgetattr(0)
tty.setraw(0)
stopped = False
first = b""
deadline = time.monotonic() + countdown
while (left := deadline - time.monotonic()) > 0:
    say(f"Hit any key to stop autoboot: {int(left) + 1} \r")
    ready, _, _ = select.select([0], [], [], min(left, 0.25))
    if ready:
        first = os.read(0, 4096)
        received.write(first)
        received.flush()
        stopped = True
        break
if stopped:
    say("\n=> ")
    line = b""
    data = first  # the byte that stopped the countdown is the prompt's first input
    while True:  # U-Boot's prompt: echo answers, nothing else; it never boots now
        for byte in data:
            if byte in (10, 13):
                words = shlex.split(line.decode(errors="replace")) if line.strip() else []
                if words[:1] == ["echo"]:
                    say("\n" + " ".join(words[1:]) + "\n=> ")
                else:
                    say("\nUnknown command\n=> ")
                line = b""
            else:
                line += bytes([byte])
        data = os.read(0, 4096)
        received.write(data)
        received.flush()
termios.tcsetattr(0, termios.TCSANOW, old)
say("\nStarting kernel ...\n[    0.000000] Linux version 6.1.0 (SERIAL console)\n")
received.close()
os.environ["PS1"] = "board$ "
os.execvp(shell, [shell, "-i"])
