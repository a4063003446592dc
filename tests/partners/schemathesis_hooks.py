"""Schemathesis hooks for tests/partners/test_schemathesis.py (loaded via SCHEMATHESIS_HOOKS).

Idempotency-Keys are per API key across endpoints, and schemathesis draws the
header from a handful of values (its coverage phase sends the same one with
every body it tries). Most POSTs then met "Idempotency-Key reused with a
different request" (422) before their body was read, which hid what the body
check would have said: `{"reason": 0}` to the cancel endpoint passed or failed
depending on which request had used the key first. A client reuses a key only
for a retry of the same request, so each valid key here becomes one derived
from the request itself: the same request gets the same key (and a replay),
a different one a different key. Invalid keys are left alone, so the header's
own negative cases still reach the server. Derived from the request, the keys
are the same in every run.
"""

from __future__ import annotations

import hashlib
import re

import schemathesis
from schemathesis.core import NotSet

HEADER = "Idempotency-Key"
_VALID = re.compile(r"[!-~]{1,255}")  # partners.idempotency accepts these


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    key = case.headers.get(HEADER) if case.headers else None
    if not isinstance(key, str) or not _VALID.fullmatch(key):
        return
    body = None if isinstance(case.body, NotSet) else case.body
    query = sorted((case.query or {}).items())
    request = repr((case.method, case.formatted_path, query, body, key))
    digest = hashlib.sha256(request.encode("utf-8", "surrogatepass")).hexdigest()
    case.headers[HEADER] = f"st-{digest[:40]}"
    # A hook's edit makes schemathesis re-classify the case against the schema: a
    # case generated without Authorization would turn positive and get the key
    # from the command line. Like that header, this key is not part of what was
    # generated to test, so the case keeps its classification. (A private method
    # of the locked schemathesis version: if it goes, this hook fails loudly.)
    case._record_starting_state()
