"""Settings for the test suite: development mode, asked for explicitly.

Production is the default of config.settings. The suite runs in development mode and
lets outbound calls reach loopback, because every server it talks to (the LSP sandbox,
partner webhook receivers, gunicorn) listens on 127.0.0.1 at a port picked at run time.
The processes the tests start inherit these variables; a test that needs production
settings or the SSRF guard at full strength sets its own.

Under `pytest -n N` (pytest-xdist, as `make test` runs) each worker has its own test
database (pytest-django adds the `_gwN` suffix) and, set here, its own Redis database:
the Celery workers one test starts must never take the tasks another test enqueued.
"""

import os
from urllib.parse import urlsplit

from config.env import DEFAULT_REDIS_URL

os.environ.setdefault("DJANGO_DEBUG", "true")
# Set, not defaulted: `make test` arrives with the development list (the sandbox's port
# only), and the suite's servers listen on ports picked at run time.
os.environ["OUTBOUND_ALLOW_HOSTS"] = "127.0.0.1,localhost"

_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ...
if _xdist_worker and not os.environ.get("CONSIGN_TEST_REDIS_SPLIT"):
    # (A broker of its own in CELERY_BROKER_URL is the caller's to keep apart.)
    _redis = urlsplit(os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)
    _db = int(_redis.path.strip("/") or 0) + 1 + int(_xdist_worker.removeprefix("gw"))
    os.environ["REDIS_URL"] = _redis._replace(path=f"/{_db}").geturl()
    os.environ["CONSIGN_TEST_REDIS_SPLIT"] = "1"  # processes the tests start keep it

from config.settings import *  # noqa: E402, F403
