"""Read-side queries of the orders domain (partner API and back office)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import CharField, Q, QuerySet, Value
from django.db.models.functions import Lower, Upper

from core.errors import NotFound
from logistics.models import Parcel, Shipment
from orders import error_codes
from orders import sql as orders_sql
from orders.models import Channel, Order, phone_key, postcode_key
from orders.numbers import PREFIX as ORDER_NUMBER_PREFIX
from orders.numbers import format_order_number


def orders_for_channel(*, channel: Channel) -> QuerySet[Order]:
    """The channel's orders, to filter and page; ORDERS_PAGE_SQL renders a page of them."""
    return Order.objects.filter(channel=channel)


# The list endpoint's rendering of a page: see core.pagination.KeysetPagination.page_response.
ORDERS_PAGE_SQL = orders_sql.ORDER_PAGE_SQL


def order_detail_json_for_channel(*, channel: Channel, number: str) -> str:
    """The channel's order as JSON: lines, allocations, shipments and tracking (one statement).

    Raises NotFound for an unknown number and for another channel's order alike,
    so a partner learns nothing about orders that are not theirs.
    """
    text = orders_sql.order_detail_json(channel_id=channel.pk, number=number)
    if text is None:
        raise _not_found(number)
    return text


def order_detail_json(*, order: Order) -> str:
    """An order the caller holds (just written, say) as the detail endpoint shows it.

    An order fresh from intake (orders.services.intake.order_create) carries the JSON
    its order.created event was rendered from, as it stands when order_create returns.
    """
    if order.detail_json is not None:
        return order.detail_json
    return orders_sql.order_detail_json_by_id(order_id=order.pk)


def orders_detail_json(*, orders: Sequence[Order]) -> dict[int, str]:
    """Order id -> the order as the detail endpoint shows it, for orders the caller holds
    (a batch just written), in one statement. Orders fresh from intake carry their
    rendering (the order.created data, see order_detail_json) and cost nothing."""
    known = {order.pk: order.detail_json for order in orders if order.detail_json is not None}
    rest = [order.pk for order in orders if order.pk not in known]
    return {**known, **(orders_sql.orders_detail_json_by_ids(order_ids=rest) if rest else {})}


def shipments_json_for_order(*, order: Order) -> str:
    """The order's shipments with lines, parcels and tracking, as a JSON array."""
    return orders_sql.shipments_json(order_id=order.pk)


def order_lookup_for_channel(*, channel: Channel, number: str) -> Order:
    """The bare order row (for writes), or NotFound."""
    order = Order.objects.filter(channel=channel, number=number).first()
    if order is None:
        raise _not_found(number)
    return order


def _not_found(number: str) -> NotFound:
    # One answer for an unknown number and another channel's order alike.
    return NotFound(f"No order {number} in this channel.", code=error_codes.ORDER_NOT_FOUND)


# --- Finding an order by whatever a customer reads out (the desk and the admin) ---------
# Each lookup is shaped so that Postgres can answer it from one of the indexes declared
# on Order / Shipment / Parcel (docs/backoffice.md has the EXPLAIN of each); the search
# runs the applicable lookups as one UNION query.
SEARCH_LIMIT = 50
# A customer reads out the local part of a phone number ("07700 900123") while we
# stored "+44 7700 900123": the last nine digits are the same in both spellings.
PHONE_MATCH_DIGITS = 9
MIN_PHONE_DIGITS = 6
MIN_NAME_CHARS = 3
MIN_POSTCODE_CHARS = 3
MIN_CITY_CHARS = 2
MIN_TRACKING_CHARS = 6

# At most 18 digits: an order number is far shorter, and int() refuses 4,300 digits or more
# (the admin's search hands over the term unbounded).
_ORDER_NUMBER_RE = re.compile(
    rf"^(?:{re.escape(ORDER_NUMBER_PREFIX.rstrip('-'))}-?)?(\d{{1,18}})$", re.I
)
_POSTCODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9 -]{1,9}$", re.I)


class MatchKind:
    NUMBER = "number"
    EXTERNAL_REFERENCE = "external_reference"
    EMAIL = "email"
    NAME = "name"
    PHONE = "phone"
    POSTCODE = "postcode"
    CITY = "city"
    TRACKING = "tracking"

    LABELS = {
        NUMBER: "Order number",
        EXTERNAL_REFERENCE: "External reference",
        EMAIL: "E-mail",
        NAME: "Name",
        PHONE: "Phone",
        POSTCODE: "Postcode",
        CITY: "City",
        TRACKING: "Tracking number",
    }


@dataclass
class SearchHit:
    order: Order
    matched_by: list[str] = field(default_factory=list)

    @property
    def matched_labels(self) -> list[str]:
        return [MatchKind.LABELS[kind] for kind in self.matched_by]


# One desk lookup: (order id, what matched) rows.
Lookup = QuerySet[Any, tuple[int, str]]


def _ids(queryset: QuerySet[Order], kind: str) -> Lookup:
    return queryset.annotate(kind=Value(kind, output_field=CharField())).values_list("id", "kind")[
        :SEARCH_LIMIT
    ]


def _prefix_range(field_name: str, prefix: str) -> Q:
    # A range rather than LIKE 'x%': the unique index on `number` uses the
    # database collation, which LIKE cannot use for a prefix scan, a range can.
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return Q(**{f"{field_name}__gte": prefix, f"{field_name}__lt": upper})


def _number_lookup(q: str, upper: str, orders: QuerySet[Order]) -> Lookup | None:
    number = _ORDER_NUMBER_RE.match(q.replace(" ", ""))
    if not number:
        return None
    digits = number.group(1)
    condition = Q(number=format_order_number(int(digits)))
    if upper.startswith(ORDER_NUMBER_PREFIX.rstrip("-")):
        # "CS-0001" is a prefix of the number; "CS-123" is the short form of CS-000123.
        condition = _prefix_range("number", ORDER_NUMBER_PREFIX + digits) | condition
    return _ids(orders.filter(condition), MatchKind.NUMBER)


def _phone_and_postcode_lookups(
    q: str, orders: QuerySet[Order], *, include_contact: bool
) -> list[Lookup]:
    lookups: list[Lookup] = []
    digits = "".join(ch for ch in q if ch.isdigit())
    if include_contact and len(digits) >= MIN_PHONE_DIGITS and re.fullmatch(r"[\d\s()+./-]+", q):
        key = phone_key(digits)[:PHONE_MATCH_DIGITS]
        lookups.append(_ids(orders.filter(customer_phone_key__startswith=key), MatchKind.PHONE))
    if len(q) >= MIN_POSTCODE_CHARS and _POSTCODE_RE.match(q) and digits:
        lookups.append(
            _ids(
                orders.filter(shipping_postcode_key__startswith=postcode_key(q)),
                MatchKind.POSTCODE,
            )
        )
    return lookups


def _name_and_city_lookups(q: str, upper: str, orders: QuerySet[Order]) -> list[Lookup]:
    lookups: list[Lookup] = []
    has_letters = any(ch.isalpha() for ch in q)
    if len(q) >= MIN_NAME_CHARS and has_letters:
        lookups.append(
            _ids(
                orders.annotate(name_upper=Upper("customer_name")).filter(
                    name_upper__contains=upper
                ),
                MatchKind.NAME,
            )
        )
    if len(q) >= MIN_CITY_CHARS and has_letters and not any(ch.isdigit() for ch in q):
        # Newest first inside the branch: the 50 of a large city are its latest 50
        # (order_city_ci ends in placed_at, id, so no sort).
        lookups.append(
            _ids(
                orders.annotate(city_upper=Upper("shipping_city"))
                .filter(city_upper=upper)
                .order_by("-placed_at", "-id"),
                MatchKind.CITY,
            )
        )
    return lookups


def _tracking_lookups(q: str, upper: str) -> list[Lookup]:
    if " " in q or len(q) < MIN_TRACKING_CHARS:
        return []
    # Compared upper-cased on both sides (shipment_tracking_ci, parcel_tracking_ci):
    # the stored number stays exactly as the carrier wrote it, for links and partners.
    return [
        Shipment.objects.annotate(tracking_upper=Upper("tracking_number"))
        .filter(tracking_upper=upper)
        .annotate(kind=Value(MatchKind.TRACKING, output_field=CharField()))
        .values_list("order_id", "kind")[:SEARCH_LIMIT],
        Parcel.objects.annotate(tracking_upper=Upper("tracking_number"))
        .filter(tracking_upper=upper)
        .annotate(kind=Value(MatchKind.TRACKING, output_field=CharField()))
        .values_list("shipment__order_id", "kind")[:SEARCH_LIMIT],
    ]


def desk_search_lookups(*, query: str, include_contact: bool = True) -> list[Lookup]:
    """The indexed lookups a desk query can mean: each an (order id, kind) queryset.

    Without `include_contact` (a role that may not see the customer's e-mail and phone)
    those two are not searched either: a hit would confirm them.
    """
    q = " ".join(query.split())
    if not q:
        return []
    lookups: list[Lookup] = []
    orders = Order.objects.all()
    upper = q.upper()

    number = _number_lookup(q, upper, orders)
    if number is not None:
        lookups.append(number)

    lookups.append(
        _ids(
            orders.annotate(ext_upper=Upper("external_reference")).filter(ext_upper=upper),
            MatchKind.EXTERNAL_REFERENCE,
        )
    )

    if "@" in q:
        if include_contact:
            lookups.append(
                _ids(
                    orders.annotate(email_lower=Lower("customer_email")).filter(
                        email_lower=q.lower()
                    ),
                    MatchKind.EMAIL,
                )
            )
        return lookups

    lookups += _phone_and_postcode_lookups(q, orders, include_contact=include_contact)
    lookups += _name_and_city_lookups(q, upper, orders)
    lookups += _tracking_lookups(q, upper)
    return lookups


def desk_search(
    *, query: str, limit: int = SEARCH_LIMIT, include_contact: bool = True
) -> list[SearchHit]:
    """Orders matching whatever a customer reads out, newest first, at most `limit`.

    Two queries whatever the input: one UNION of the indexed lookups, one fetch
    of the matched orders.
    """
    lookups = desk_search_lookups(query=query, include_contact=include_contact)
    if not lookups:
        return []
    union = lookups[0].union(*lookups[1:], all=True) if len(lookups) > 1 else lookups[0]
    matched: dict[int, list[str]] = {}
    for order_id, kind in union:
        kinds = matched.setdefault(order_id, [])
        if kind not in kinds:
            kinds.append(kind)
    if not matched:
        return []
    orders = (
        Order.objects.filter(id__in=list(matched))
        .select_related("channel")
        .order_by("-placed_at", "-id")[:limit]
    )
    return [SearchHit(order=order, matched_by=matched[order.id]) for order in orders]
