"""Disputes: an invoice discrepancy followed from open to settled, with who and when.

    open ──► disputed ──► credited
      │          │
      ├──────────┴──► accepted | written_off

`credited`, `accepted` and `written_off` are final. Each move is recorded as a
DisputeEvent (from, to, note, actor, time); disputing requires a note, since it is
what the provider is sent.
"""

from __future__ import annotations

import io

from django.db import transaction
from django.utils import timezone

from core.csv_safe import csv_writer
from core.errors import IllegalTransition, NotFound, ValidationFailed
from economics.models import Dispute, DisputeEvent, Invoice

Status = Dispute.Status
MOVES: dict[str, frozenset[str]] = {
    Status.OPEN: frozenset({Status.DISPUTED, Status.ACCEPTED, Status.WRITTEN_OFF}),
    Status.DISPUTED: frozenset({Status.CREDITED, Status.ACCEPTED, Status.WRITTEN_OFF}),
}


@transaction.atomic
def dispute_decide(*, dispute_id: int, to_status: str, note: str, actor: str) -> Dispute:
    """Move a dispute on; IllegalTransition for a move the flow above does not have."""
    dispute = Dispute.objects.select_for_update().filter(pk=dispute_id).first()
    if dispute is None:
        raise NotFound(f"Dispute {dispute_id} does not exist.")
    allowed = MOVES.get(dispute.status, frozenset())
    if to_status not in allowed:
        raise IllegalTransition(
            f"A dispute that is {dispute.get_status_display().lower()} cannot become "
            f"{to_status.replace('_', ' ')}"
            + (f" (it can become {', '.join(sorted(allowed))})." if allowed else "; it is settled.")
        )
    note = note.strip()
    if to_status == Status.DISPUTED and not note:
        raise ValidationFailed(
            "Say why the charge is disputed: the note is what the provider is sent.",
            errors=[{"field": "note", "message": "required to dispute"}],
        )
    DisputeEvent.objects.create(
        dispute=dispute, from_status=dispute.status, to_status=to_status, note=note, actor=actor
    )
    dispute.status = to_status
    if note:
        dispute.note = note
    dispute.decided_by = actor
    dispute.decided_at = timezone.now()
    dispute.save(update_fields=["status", "note", "decided_by", "decided_at", "updated_at"])
    return dispute


EXPORT_COLUMNS = [
    "invoice", "line", "reference", "tracking_number", "charge_type", "kind", "expected",
    "invoiced", "difference", "status", "note", "decided_by", "decided_at",
]  # fmt: skip


def disputes_csv(*, invoice: Invoice) -> str:
    """The invoice's disputes as CSV for the provider (one row each, lines in file order)."""
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(EXPORT_COLUMNS)
    rows = (
        Dispute.objects.filter(invoice=invoice)
        .select_related("line")
        .order_by("line__line_number", "id")
    )
    for dispute in rows.iterator(chunk_size=2000):
        line = dispute.line
        writer.writerow(
            [
                invoice.number,
                line.line_number if line else "",
                line.reference if line else "",
                line.tracking_number if line else "",
                line.charge_type if line else "",
                dispute.kind,
                dispute.expected if dispute.expected is not None else "",
                dispute.invoiced if dispute.invoiced is not None else "",
                dispute.difference,
                dispute.status,
                dispute.note,
                dispute.decided_by,
                dispute.decided_at.isoformat() if dispute.decided_at else "",
            ]
        )
    return out.getvalue()
