"""The one place that reads the environment.

Every variable has a development default so that `make run` needs no
configuration; the README's configuration table lists them all.
"""

import base64
import hashlib
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

# Ports of the embedded services started by scripts/devservices.py. They are
# deliberately not the standard ones so that a developer's own Postgres/Redis
# on 5432/6379 never gets migrated or flushed by accident.
EMBEDDED_PG_PORT = 55432
EMBEDDED_REDIS_PORT = 56379

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEFAULT_DATABASE_URL = f"postgres://postgres@127.0.0.1:{EMBEDDED_PG_PORT}/consign"
DEFAULT_REDIS_URL = f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
# Where `make run` starts the LSP sandbox (Procfile) and where the demo provider points.
DEFAULT_SANDBOX_URL = "http://127.0.0.1:8700"

# The Fernet key for stored secrets when DJANGO_DEBUG is on and CONSIGN_SECRETS_KEY is
# unset, so `make run` and the tests need no configuration. It is derived from a public
# string, so it protects nothing: production refuses it (core/checks.py).
DEVELOPMENT_SECRETS_KEY = base64.urlsafe_b64encode(
    hashlib.sha256(b"consign development secrets key: public, never for production").digest()
).decode()
