"""Order numbers (`CS-000123`) drawn from a Postgres sequence."""

from django.db import connection

from orders.sql import NEXT_NUMBERS_SQL

PREFIX = "CS-"


def format_order_number(value: int) -> str:
    return f"{PREFIX}{value:06d}"


def order_numbers_next(*, count: int = 1) -> list[str]:
    """Reserve `count` new order numbers. Numbers are never reused, even on rollback."""
    with connection.cursor() as cursor:
        cursor.execute(NEXT_NUMBERS_SQL, [count])
        return [format_order_number(row[0]) for row in cursor.fetchall()]
