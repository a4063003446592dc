"""Stable machine-readable error codes of the partner API (problem+json `code`)."""

NOT_AUTHENTICATED = "not_authenticated"
INVALID_API_KEY = "invalid_api_key"
IDEMPOTENCY_KEY_INVALID = "idempotency_key_invalid"
IDEMPOTENCY_KEY_IN_USE = "idempotency_key_in_use"
IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
THROTTLED = "throttled"
