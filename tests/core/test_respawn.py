"""scripts/respawn.py, which `make run` puts in front of the worker and beat (Procfile)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESPAWN = [sys.executable, str(ROOT / "scripts" / "respawn.py"), "--name", "test", "--"]


def _wait_for(predicate, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_a_command_that_dies_is_started_again(tmp_path):
    starts = tmp_path / "starts"
    child = f"open({str(starts)!r}, 'a').write('x'); raise SystemExit(3)"
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        [*RESPAWN, sys.executable, "-c", child], stderr=subprocess.PIPE
    )
    try:
        _wait_for(lambda: starts.exists() and len(starts.read_text()) >= 3)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert "exited with code 3" in err.decode()
    # The stop may find the command exiting by itself (3) or still running, when the
    # SIGTERM passed on ends it: a shell's 128 + 15.
    assert proc.returncode in (3, 128 + signal.SIGTERM), "it stops when told"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_reaches_the_command_and_nothing_restarts(tmp_path, signum):
    marker, starts = tmp_path / "stopped", tmp_path / "starts"
    child = (
        "import signal, sys, time\n"
        f"open({str(starts)!r}, 'a').write('x')\n"
        "def stop(signum, frame):\n"
        f"    open({str(marker)!r}, 'w').write(str(signum)); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([*RESPAWN, sys.executable, "-c", child])  # noqa: S603 - fixed argv
    _wait_for(starts.exists)
    proc.send_signal(signum)
    assert proc.wait(timeout=10) == 0
    assert marker.read_text() == str(int(signal.SIGTERM)), "passed on as a warm shutdown"
    time.sleep(1.5)
    assert starts.read_text() == "x", "not started again after a stop"


def test_procfile_runs_worker_and_beat_under_respawn():
    lines = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    for name in ("worker", "beat"):
        assert lines[name].strip().startswith("python scripts/respawn.py"), name
