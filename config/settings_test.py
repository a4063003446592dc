"""Settings for the test suite: development mode, asked for explicitly.

Production is the default of config.settings. The suite runs in development mode and
lets outbound calls reach loopback, because every server it talks to (the LSP sandbox,
partner webhook receivers, gunicorn) listens on 127.0.0.1 at a port picked at run time.
The processes the tests start inherit these variables; a test that needs production
settings or the SSRF guard at full strength sets its own.
"""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("OUTBOUND_ALLOW_HOSTS", "127.0.0.1,localhost")

from config.settings import *  # noqa: E402, F403
