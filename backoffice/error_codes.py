"""Stable machine-readable error codes of the back office."""

BULK_JOB_EMPTY = "bulk_job_empty"
BULK_JOB_TOO_LARGE = "bulk_job_too_large"
BULK_JOB_INVALID = "bulk_job_invalid"
BULK_NO_ACTIVE_HOLD = "bulk_no_active_hold"
