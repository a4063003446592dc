"""Hand-written SQL for the partners app's own tables (STYLE.md rule 18).

Every statement here names only partners_* tables and has a test comparing its result with the
ORM equivalent. Other apps compose the fragments they need from here; they never spell
these table names themselves.
"""

# --- Idempotency keys (partners.services.idempotency_claim) ---------------------------
IDEMPOTENCY_CLAIM_SQL = "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))"
IDEMPOTENCY_RECORD_FIELDS = [
    "id",
    "request_method",
    "request_path",
    "request_hash",
    "response_status",
    "response_content_type",
    "response_body",
    "response_location",
    "created_at",
    "completed_at",
]
IDEMPOTENCY_RECORD_SQL = (
    f"SELECT {', '.join(IDEMPOTENCY_RECORD_FIELDS)} FROM partners_idempotencyrecord "
    "WHERE api_key_id = %s AND key = %s"
)
