"""Hand-written SQL for the partners app's own tables (STYLE.md rule 18).

Every statement here names only partners_* tables and has a test comparing its result with the
ORM equivalent. Other apps compose the fragments they need from here; they never spell
these table names themselves.
"""
