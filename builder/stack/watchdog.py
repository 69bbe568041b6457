"""Stops embedded Postgres when `builder dev` dies, however it dies.

`python -m builder.stack.watchdog PGDATA` blocks reading its stdin, a pipe whose only
writer is `builder dev`. The kernel closes that pipe when `builder dev` exits — cleanly or
by `kill -9` — and the watchdog then stops the postmaster of PGDATA if it still runs
(a clean exit has already stopped it: nothing to do). It runs in its own session, so a
Ctrl-C in the terminal does not reach it before `builder dev` is done.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from builder.stack.children import postgres_leftover, stop


def main(argv: list[str]) -> int:
    data_dir = Path(argv[0])
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while sys.stdin.buffer.read(4096):
        pass
    leftover = postgres_leftover(data_dir)
    if leftover is not None:
        # SIGINT is Postgres's fast shutdown: clients are disconnected, data is kept
        stop(leftover.pid, signal.SIGINT, timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
