"""ASN numbers (`ASN-000123`) drawn from a Postgres sequence."""

from django.db import connection

PREFIX = "ASN-"


def format_inbound_number(value: int) -> str:
    return f"{PREFIX}{value:06d}"


def inbound_number_next() -> str:
    """A new ASN number (the model field's default). Never reused, even on rollback."""
    # Imported here: inventory.sql imports the models, whose field default this is.
    from inventory.sql import INBOUND_NEXT_NUMBER_SQL

    with connection.cursor() as cursor:
        cursor.execute(INBOUND_NEXT_NUMBER_SQL)
        (value,) = cursor.fetchone()
    return format_inbound_number(int(value))
