"""The expected cost of every outbound shipment, priced by a sweep (not by the dispatch path).

`expected_costs_sweep` (beat, every ECONOMICS_SWEEP_SECONDS) prices new shipments
under the card in force on the day they were planned, prices them again under the
card of their dispatch day once they are dispatched, and zeroes the ones cancelled
before dispatch. Dispatch and intake never wait for pricing and never fail because
of it; a shipment no card can price gets a cost row that says why.

Return shipments are priced with the card's `return` rules once their return is
received (stage `received`).

New shipments are found by id above a cursor, looking back LOOKBACK ids so that a
shipment whose transaction committed after later ids were priced is still found
(the anti-join over that window is an index range, cheap).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Sum
from django.utils import timezone

from economics import pricing, sql
from economics.models import InboundCost, RateCard, ShipmentCost, Stage, SweepCursor
from economics.selectors import card_terms
from inventory.models import InboundShipment
from logistics.models import CustomsDeclaration, Parcel, Shipment, ShipmentLine
from orders.models import Order
from returns.models import ReturnRequest

LOOKBACK = 5_000
BATCH = 1_000
NEW_SHIPMENTS = "shipments-new"
DISPATCHED = "shipments-dispatched"
RETURNS = "returns-received"


@dataclass(frozen=True)
class _Facts:
    shipment_id: int
    provider_id: int
    stage: str
    on: dt.date
    work: pricing.ShipmentWork


class _Cards:
    """Active cards of the providers at hand, as terms, looked up by day."""

    def __init__(self, provider_ids: Iterable[int]) -> None:
        self.by_provider: dict[int, list[tuple[RateCard, pricing.CardTerms]]] = defaultdict(list)
        cards = RateCard.objects.filter(
            provider_id__in=set(provider_ids), status=RateCard.Status.ACTIVE
        ).prefetch_related("zones", "rules")
        for card in cards:
            self.by_provider[card.provider_id].append((card, card_terms(card)))

    def on(self, provider_id: int, day: dt.date) -> tuple[RateCard, pricing.CardTerms] | None:
        for card, terms in self.by_provider.get(provider_id, []):
            if card.valid_from <= day and (card.valid_to is None or day < card.valid_to):
                return card, terms
        return None


def _stage(
    *, created_at: dt.datetime, dispatched_at: dt.datetime | None, status: str
) -> tuple[str, dt.date]:
    if dispatched_at is not None:
        return Stage.DISPATCHED, dispatched_at.date()
    if status == Shipment.Status.CANCELLED:
        return Stage.CANCELLED, created_at.date()
    return Stage.PLANNED, created_at.date()


def _facts(shipment_ids: Sequence[int]) -> list[_Facts]:
    rows = list(
        # Return shipments are priced per return, once received (received_returns_price).
        Shipment.objects.filter(pk__in=shipment_ids, direction=Shipment.Direction.OUTBOUND).values(
            "pk", "provider_id", "order_id", "created_at", "dispatched_at", "status"
        )
    )
    units = dict(
        ShipmentLine.objects.filter(shipment_id__in=shipment_ids)
        .values("shipment_id")
        .annotate(units=Sum("quantity"))
        .values_list("shipment_id", "units")
    )
    weights: dict[int, list[int]] = defaultdict(list)
    for shipment_id, weight in (
        Parcel.objects.filter(shipment_id__in=shipment_ids)
        .order_by("shipment_id", "pk")
        .values_list("shipment_id", "weight_grams")
    ):
        weights[shipment_id].append(weight)
    destinations = {
        pk: (country, postcode)
        for pk, country, postcode in Order.objects.filter(
            pk__in={row["order_id"] for row in rows}
        ).values_list("pk", "shipping_country", "shipping_postcode")
    }
    declared = set(
        CustomsDeclaration.objects.filter(shipment_id__in=shipment_ids).values_list(
            "shipment_id", flat=True
        )
    )
    facts = []
    for row in rows:
        stage, day = _stage(
            created_at=row["created_at"], dispatched_at=row["dispatched_at"], status=row["status"]
        )
        country, postcode = destinations[row["order_id"]]
        facts.append(
            _Facts(
                shipment_id=row["pk"],
                provider_id=row["provider_id"],
                stage=stage,
                on=day,
                work=pricing.ShipmentWork(
                    units=units.get(row["pk"]) or 0,
                    parcel_weights_grams=tuple(weights.get(row["pk"], ())),
                    country=country,
                    postcode=postcode,
                    customs_declarations=1 if row["pk"] in declared else 0,
                ),
            )
        )
    return facts


def _priced(
    fact: _Facts,
    cards: _Cards,
    *,
    quote: Callable[[pricing.CardTerms, pricing.ShipmentWork], pricing.Quote] = (
        pricing.shipment_quote
    ),
) -> tuple[sql.ShipmentCostRow, list[sql.ShipmentChargeRow]]:
    found = cards.on(fact.provider_id, fact.on)
    if found is None:
        problem = f"no active rate card of the provider on {fact.on.isoformat()}"
        return sql.ShipmentCostRow(fact.shipment_id, fact.stage, None, "", None, [problem]), []
    card, terms = found
    if fact.stage == Stage.CANCELLED:
        zero = pricing.money(Decimal(0), terms.places)
        return sql.ShipmentCostRow(
            fact.shipment_id, fact.stage, card.pk, card.currency, zero, []
        ), []
    priced = quote(terms, fact.work)
    problems = list(priced.problems)
    if not fact.work.parcel_weights_grams and fact.stage != Stage.RECEIVED:
        problems.append("the shipment has no parcels yet")
    cost = sql.ShipmentCostRow(
        fact.shipment_id, fact.stage, card.pk, priced.currency, priced.total, problems
    )
    lines = [
        sql.ShipmentChargeRow(
            shipment_id=fact.shipment_id,
            rule_id=line.rule_id,
            charge_type=line.charge_type,
            description=line.description[:150],
            quantity=line.quantity,
            unit_amount=line.unit_amount,
            amount=line.amount,
        )
        for line in priced.lines
    ]
    return cost, lines


def _write(
    costs: list[sql.ShipmentCostRow], charges: list[sql.ShipmentChargeRow], now: dt.datetime
) -> None:
    # The cost rows first: their upsert waits for a concurrent pricing of the same
    # shipments to commit, so the charge lines deleted next include that one's.
    sql.shipment_costs_upsert(costs, priced_at=now)
    sql.shipment_charges_replace([cost.shipment_id for cost in costs], charges)


def shipments_price(*, shipment_ids: Sequence[int]) -> int:
    """Price (or re-price) these shipments at their current stage; returns how many.

    Call inside a transaction. Replaces the shipments' charge lines and cost rows
    (one upsert and one COPY: economics/sql.py).
    """
    if not shipment_ids:
        return 0
    facts = _facts(shipment_ids)
    cards = _Cards(fact.provider_id for fact in facts)
    costs: list[sql.ShipmentCostRow] = []
    charges: list[sql.ShipmentChargeRow] = []
    for fact in facts:
        cost, lines = _priced(fact, cards)
        costs.append(cost)
        charges += lines
    _write(costs, charges, timezone.now())
    return len(costs)


def _locked_cursor(name: str) -> SweepCursor | None:
    SweepCursor.objects.get_or_create(name=name)
    # Another sweep holding it is doing this work right now: leave it to that one.
    return SweepCursor.objects.select_for_update(skip_locked=True).filter(name=name).first()


def new_shipments_price(*, batch: int = BATCH) -> int:
    """Price outbound shipments that have no cost row yet (one batch)."""
    with transaction.atomic():
        cursor = _locked_cursor(NEW_SHIPMENTS)
        if cursor is None:
            return 0
        ids = list(
            Shipment.objects.filter(
                pk__gt=max(0, cursor.position - LOOKBACK),
                direction=Shipment.Direction.OUTBOUND,
            )
            .filter(~Exists(ShipmentCost.objects.filter(shipment_id=OuterRef("pk"))))
            .order_by("pk")
            .values_list("pk", flat=True)[:batch]
        )
        count = shipments_price(shipment_ids=ids)
        if ids and ids[-1] > cursor.position:
            cursor.position = ids[-1]
            cursor.save(update_fields=["position", "updated_at"])
        return count


def new_shipments_cursor_catch_up() -> int:
    """Move the new-shipments cursor up to the highest priced shipment; returns its position.

    For a caller that priced shipments in bulk with `shipments_price` (the demo seeder):
    without it the next sweep would look for unpriced shipments from the old position
    on, across every shipment priced since. Never moves the cursor back.
    """
    with transaction.atomic():
        cursor = _locked_cursor(NEW_SHIPMENTS)
        if cursor is None:
            return 0
        highest = (
            ShipmentCost.objects.order_by("-shipment_id")
            .values_list("shipment_id", flat=True)
            .first()
        )
        if highest is not None and highest > cursor.position:
            cursor.position = highest
            cursor.save(update_fields=["position", "updated_at"])
        return cursor.position


def moved_shipments_price(*, batch: int = BATCH) -> int:
    """Price again the shipments priced as planned that were since dispatched or cancelled."""
    with transaction.atomic():
        if _locked_cursor(DISPATCHED) is None:
            return 0
        ids = list(
            ShipmentCost.objects.filter(stage=Stage.PLANNED)
            .filter(
                Q(shipment__dispatched_at__isnull=False)
                | Q(shipment__status=Shipment.Status.CANCELLED)
            )
            .order_by("shipment_id")
            .values_list("shipment_id", flat=True)[:batch]
        )
        return shipments_price(shipment_ids=ids)


def received_returns_price(*, batch: int = BATCH) -> int:
    """Price the return shipments of returns received since the last sweep (per return)."""
    with transaction.atomic():
        if _locked_cursor(RETURNS) is None:
            return 0
        received = list(
            ReturnRequest.objects.filter(received_at__isnull=False, return_shipment__isnull=False)
            .filter(~Exists(ShipmentCost.objects.filter(shipment_id=OuterRef("return_shipment"))))
            .order_by("pk")
            .values_list("return_shipment_id", "return_shipment__provider_id", "received_at")[
                :batch
            ]
        )
        cards = _Cards(provider_id for _, provider_id, _ in received)
        now = timezone.now()
        costs: list[sql.ShipmentCostRow] = []
        charges: list[sql.ShipmentChargeRow] = []
        for shipment_id, provider_id, received_at in received:
            assert shipment_id is not None  # noqa: S101 - filtered above
            fact = _Facts(
                shipment_id=shipment_id,
                provider_id=provider_id,
                stage=Stage.RECEIVED,
                on=(received_at or now).date(),
                work=pricing.ShipmentWork(units=0, parcel_weights_grams=(), country=""),
            )
            cost, lines = _priced(fact, cards, quote=_return_quote)
            costs.append(cost)
            charges += lines
        _write(costs, charges, now)
        return len(costs)


def _return_quote(card: pricing.CardTerms, work: pricing.ShipmentWork) -> pricing.Quote:
    return pricing.return_quote(card)


def expected_costs_sweep(*, max_seconds: float = 20.0) -> int:
    """Every sweep, batch after batch, until nothing is left or time is up; returns how many."""
    deadline = time.monotonic() + max_seconds
    total = 0
    for sweep in (
        new_shipments_price,
        moved_shipments_price,
        received_returns_price,
        inbound_costs_price,
    ):
        while True:
            count = sweep()
            total += count
            if count < BATCH or time.monotonic() > deadline:
                break
    return total


def inbound_costs_price(*, inbound_ids: Iterable[int] | None = None, batch: int = BATCH) -> int:
    """Price received inbound shipments (ASNs) at LSP-operated sites that have no cost yet:
    the card's `inbound_unit` rules over the units received, under the card in force on
    the day it was received. With `inbound_ids`, only those (the invoice import)."""
    rows = InboundShipment.objects.filter(
        status=InboundShipment.Status.RECEIVED, warehouse__provider__isnull=False
    ).filter(~Exists(InboundCost.objects.filter(inbound_id=OuterRef("pk"))))
    if inbound_ids is not None:
        rows = rows.filter(pk__in=list(inbound_ids))
    received = list(
        rows.order_by("pk")
        .annotate(units=Sum("lines__received_quantity"))
        .values_list("pk", "warehouse__provider_id", "closed_at", "updated_at", "units")[:batch]
    )
    if not received:
        return 0
    cards = _Cards(provider_id for _, provider_id, *_ in received)
    now = timezone.now()
    costs = []
    for inbound_id, provider_id, closed_at, updated_at, units in received:
        day = (closed_at or updated_at).date()
        cost = InboundCost(
            inbound_id=inbound_id, provider_id=provider_id, units=units or 0, priced_at=now
        )
        found = cards.on(provider_id, day)
        if found is None:
            cost.problems = [f"no active rate card of the provider on {day.isoformat()}"]
        else:
            card, terms = found
            quote = pricing.inbound_quote(terms, units=units or 0)
            cost.card, cost.currency, cost.total = card, card.currency, quote.total
        costs.append(cost)
    InboundCost.objects.bulk_create(costs, ignore_conflicts=True)
    return len(costs)
