"""Where a machine's CPU goes while a benchmark runs: gunicorn, Postgres, Celery, the client.

    python bench/cpu_split.py [--interval 2] [--samples 30]

Run it next to a bench (e.g. bench/api_intake.py --phases intake,floor). Every
--interval seconds it reads utime + stime of every process from /proc/<pid>/stat and
prints, per kind of process, the CPU used in that interval as a share of one core
(200 % is both cores of this machine). Dividing a kind's share by the bench's
requests/s gives its CPU per request (docs/perf.md, issue 4). Linux only.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
# First match wins: the command line decides which kind a process is.
KINDS = (
    ("gunicorn", "gunicorn"),
    ("celery", "celery"),
    ("postgres", "postgres"),
    ("redis", "redis"),
    ("client", "bench/"),
)


def _kind(cmdline: str) -> str:
    return next((kind for kind, needle in KINDS if needle in cmdline), "other")


def snapshot() -> dict[int, tuple[str, int]]:
    """pid → (kind, CPU ticks used so far)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # the process ended meanwhile
            continue
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = stat.rsplit(")", 1)[1].split()
        found[int(entry.name)] = (_kind(cmdline), int(fields[11]) + int(fields[12]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    before = snapshot()
    for _ in range(args.samples):
        time.sleep(args.interval)
        now = snapshot()
        used: Counter[str] = Counter()
        for pid, (kind, ticks) in now.items():
            if pid in before:  # a process born in the interval is counted from the next one
                used[kind] += ticks - before[pid][1]
        before = now
        shares = " ".join(
            f"{kind}={100 * t / TICKS / args.interval:.0f}%" for kind, t in sorted(used.items())
        )
        print(f"{time.strftime('%H:%M:%S')} {shares}", flush=True)


if __name__ == "__main__":
    main()
