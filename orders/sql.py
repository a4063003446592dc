"""Hand-written SQL for the orders app's own tables (STYLE.md rule 18).

Every statement here names only orders_* tables and has a test comparing its result with the
ORM equivalent. Other apps compose the fragments they need from here; they never spell
these table names themselves.
"""
