"""Run a command and start it again whenever it exits, until this process is told to stop.

    python scripts/respawn.py [--name NAME] -- celery -A config worker ...

`make run` starts the Celery worker and beat through this (Procfile), as systemd's
`Restart=always` does in production (docs/operations.md): a worker that dies for
any reason (a crash, the OOM killer, a bug in a library) comes back instead of
leaving dispatch and tracking to pile up. Restarts back off from 1 s to 30 s while
the command keeps dying quickly, and reset once it has run for a minute. SIGTERM and
SIGINT are passed on to the command (as SIGTERM), whose exit then ends this process too,
with the command's exit status (128 + N if signal N ended it).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

QUICK_DEATH_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 30.0


def _log(name: str, message: str) -> None:
    print(f"[respawn {name}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", default="", help="Name used in the log lines.")
    parser.add_argument("--max-backoff", type=float, default=MAX_BACKOFF_SECONDS)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    name = args.name or command[0]
    stopping: list[int] = []
    child: subprocess.Popen | None = None

    def forward(signum, _frame):
        stopping.append(signum)
        if child is not None and child.poll() is None:
            # As SIGTERM (Celery's warm shutdown): a Ctrl-C in the terminal reaches the
            # child too, and a second SIGINT would make Celery stop cold.
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    backoff = 1.0
    while True:
        started = time.monotonic()
        child = subprocess.Popen(command)  # noqa: S603 - the operator's own command line
        if stopping:  # the stop came while it was being started: pass it on now
            child.send_signal(signal.SIGTERM)
        code = _exit_status(child.wait())
        if stopping:
            return code
        ran = time.monotonic() - started
        if ran >= QUICK_DEATH_SECONDS:
            backoff = 1.0
        delay, backoff = backoff, min(backoff * 2, args.max_backoff)
        _log(name, f"exited with code {code} after {ran:.0f} s; starting it again in {delay:.0f} s")
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not stopping:
            time.sleep(0.1)
        if stopping:
            return code


def _exit_status(returncode: int) -> int:
    """The command's exit status as a shell reports it: 128 + N for death by signal N."""
    return 128 - returncode if returncode < 0 else returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
