from __future__ import annotations

from typing import cast

from django import forms
from django.contrib.auth.models import User
from django.db import models

from core.forms import column_integer_field
from inventory.models import Bin, BinStock, InboundReceipt, StockCount, StockMovement, Warehouse
from logistics.models import (
    Box,
    Parcel,
    ParcelItem,
    PickTask,
    PickWave,
    Provider,
    ShipmentLine,
)
from orders.iso import country_choices, postcode_normalise, postcode_problem
from orders.models import Hold, Order
from orders.services.desk import NOTE_MAX_LENGTH


class SearchForm(forms.Form):
    q = forms.CharField(max_length=200, required=False, strip=True)


REASON_CHOICES = [("", "Choose a reason…"), *Hold.Reason.choices]


class HoldPlaceForm(forms.Form):
    reason = forms.ChoiceField(choices=REASON_CHOICES)
    note = forms.CharField(
        max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    due_in_hours = forms.TypedChoiceField(
        label="Follow up within",
        choices=[("", "No due time"), ("4", "4 hours"), ("24", "1 day"), ("72", "3 days")],
        coerce=int,
        empty_value=None,
        required=False,
    )


class HoldReleaseForm(forms.Form):
    note = forms.CharField(max_length=2000, required=False)


class NoteForm(forms.Form):
    text = forms.CharField(max_length=NOTE_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3}))


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=200)
    confirm = forms.BooleanField(
        required=True, label="I understand that a cancelled order cannot be reopened."
    )


class CancelRestForm(forms.Form):
    reason = forms.CharField(max_length=200)
    confirm = forms.BooleanField(
        required=True, label="I understand that the cancelled units cannot be sent later."
    )


class RerouteForm(forms.Form):
    provider = forms.ModelChoiceField(
        queryset=Provider.objects.filter(is_active=True).order_by("code"),
        to_field_name="code",
        label="Send with",
    )


def _country_choices():
    return [("", "Choose a country…"), *country_choices()]


class AddressForm(forms.Form):
    """The desk's shipping address form. The service checks the same rules again."""

    shipping_name = forms.CharField(max_length=200, label="Name")
    shipping_line1 = forms.CharField(max_length=200, label="Address line 1")
    shipping_line2 = forms.CharField(max_length=200, required=False, label="Address line 2")
    shipping_city = forms.CharField(max_length=100, label="City")
    shipping_postcode = forms.CharField(max_length=20, required=False, label="Postcode")
    shipping_region = forms.CharField(max_length=100, required=False, label="Region")
    shipping_country = forms.ChoiceField(choices=_country_choices, label="Country")

    def clean_shipping_postcode(self):
        return postcode_normalise(self.cleaned_data["shipping_postcode"])

    def clean(self):
        data = super().clean()
        country = data.get("shipping_country")
        if country and "shipping_postcode" in data:
            problem = postcode_problem(country=country, postcode=data["shipping_postcode"])
            if problem:
                self.add_error("shipping_postcode", problem)
        return data


class ExceptionQueueFilterForm(forms.Form):
    """The exception queue's filters (GET). A bad value is a form error, never a guess."""

    kind = forms.CharField(required=False, max_length=32)
    channel = forms.CharField(required=False, max_length=32)
    days = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=365,
        label="Backorders older than (days)",
        error_messages={
            "min_value": "Days must be 0 or more.",
            "max_value": "Days must be at most 365.",
            "invalid": "Days must be a whole number.",
        },
    )
    mine = forms.BooleanField(required=False)

    DEFAULT_DAYS = 3

    def clean_kind(self):
        from backoffice.selectors import EXCEPTION_KINDS

        kind = self.cleaned_data["kind"]
        if kind and kind not in EXCEPTION_KINDS:
            raise forms.ValidationError("Unknown kind of exception.")
        return kind

    def clean_days(self):
        days = self.cleaned_data["days"]
        return self.DEFAULT_DAYS if days is None else days


class DashboardRangeForm(forms.Form):
    """The dashboard's optional date range (GET): both dates or neither, at most MAX_DAYS."""

    MAX_DAYS = 92

    start = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if self.errors:
            return data
        if (start is None) != (end is None):
            raise forms.ValidationError("Give both dates of the range, or neither.")
        if start and end:
            if start > end:
                raise forms.ValidationError("The range must start on or before its last day.")
            if (end - start).days + 1 > self.MAX_DAYS:
                raise forms.ValidationError(f"A range covers at most {self.MAX_DAYS} days.")
        return data


# Room for the most numbers a bulk action takes (5,000) however they are spaced.
BULK_NUMBERS_MAX_CHARS = 100_000


def _hold_owner_choices():
    from backoffice.selectors import hold_owner_candidates

    return hold_owner_candidates()


class BulkActionForm(forms.Form):
    HOLD = "hold"
    RELEASE = "release"
    ASSIGN = "assign"
    EXPORT = "export"

    action = forms.ChoiceField(
        choices=[
            (HOLD, "Put on hold"),
            (RELEASE, "Release holds"),
            (ASSIGN, "Assign holds to an owner"),
            (EXPORT, "Export to CSV"),
        ],
        initial=HOLD,
    )
    numbers = forms.CharField(
        required=False,
        max_length=BULK_NUMBERS_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "CS-000123, CS-000124 …"}),
        help_text="Order numbers separated by spaces, commas or new lines.",
    )
    status = forms.ChoiceField(
        required=False,
        choices=[("", "—"), *Order.Status.choices],
        help_text="Or: every order currently in this status (at most 5,000, oldest first).",
    )
    channel = forms.CharField(required=False, max_length=32, help_text="Channel code, optional.")
    reason = forms.ChoiceField(
        choices=REASON_CHOICES,
        required=False,
        label="Hold reason",
        help_text="To hold: the reason. To release or assign: only holds for this reason "
        "(none chosen: every active hold of the order).",
    )
    note = forms.CharField(max_length=2000, required=False, label="Hold note")
    owner: forms.ModelChoiceField[User] = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="Owner",
        help_text="To assign: who follows the holds up.",
    )

    def __init__(self, *args, has_selection: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.has_selection = has_selection
        owner = cast("forms.ModelChoiceField[User]", self.fields["owner"])  # declared above
        owner.queryset = _hold_owner_choices()

    def clean_numbers(self):
        from backoffice.selectors import bulk_entries_split
        from backoffice.services import BULK_JOB_MAX_ORDERS

        numbers = self.cleaned_data["numbers"]
        if len(bulk_entries_split(text=numbers)) > BULK_JOB_MAX_ORDERS:
            raise forms.ValidationError(f"At most {BULK_JOB_MAX_ORDERS} numbers at a time.")
        return numbers

    def clean(self):
        data = super().clean()
        if (
            not self.has_selection
            and not data.get("numbers", "").strip()
            and not data.get("status")
        ):
            raise forms.ValidationError("Give order numbers or choose a status.")
        if data.get("action") == self.HOLD and not data.get("reason"):
            self.add_error("reason", "Choose a reason for the hold.")
        if data.get("action") == self.ASSIGN and not data.get("owner"):
            self.add_error("owner", "Choose who will own the holds.")
        return data


def _manual_adjustment_reasons():
    from inventory.models import AdjustmentReason

    system = {AdjustmentReason.LSP_RECONCILIATION, AdjustmentReason.IMPORT}
    return [("", "Choose a reason…")] + [
        (value, label) for value, label in AdjustmentReason.choices if value not in system
    ]


# Numbers are bounded by the column they are written to (core/forms.py): an out-of-range
# value is a form error that keeps what was typed, never "integer out of range".


class AdjustForm(forms.Form):
    delta = column_integer_field(StockMovement, "on_hand_delta", label="Change (e.g. -2 or 5)")
    reason = forms.ChoiceField(choices=_manual_adjustment_reasons)
    note = forms.CharField(max_length=500, required=False)

    def clean_delta(self):
        delta = self.cleaned_data["delta"]
        if delta == 0:
            raise forms.ValidationError("An adjustment must change the stock.")
        return delta


class CountForm(forms.Form):
    counted = column_integer_field(StockCount, "counted", min_value=0, label="Counted on hand")


class InboundCreateForm(forms.Form):
    """Staff announce an ASN for any warehouse; lines as `SKU quantity`, one per line."""

    warehouse = forms.ModelChoiceField(
        queryset=Warehouse.objects.filter(is_active=True).order_by("code"),
        to_field_name="code",
    )
    reference = forms.CharField(max_length=64, help_text="The supplier's or PO reference.")
    supplier = forms.CharField(max_length=200, required=False)
    expected_at = forms.DateTimeField(required=False, help_text="e.g. 2026-03-10 09:00")
    carrier = forms.CharField(max_length=100, required=False)
    tracking_number = forms.CharField(max_length=100, required=False)
    lines = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "TSHIRT-BLK-M 120\nMUG-WHITE 48"}),
        help_text="One line per SKU: the SKU, a space, the quantity.",
        max_length=20000,
    )

    def clean_lines(self) -> list[tuple[str, int]]:
        parsed: list[tuple[str, int]] = []
        for number, raw in enumerate(self.cleaned_data["lines"].splitlines(), start=1):
            parts = raw.split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[1].isdigit():
                raise forms.ValidationError(f"Line {number}: write the SKU, a space, the quantity.")
            parsed.append((parts[0], int(parts[1])))
        if not parsed:
            raise forms.ValidationError("At least one line.")
        return parsed


class ScanForm(forms.Form):
    barcode = forms.CharField(max_length=64, label="Barcode or SKU")
    # Own sites with bins: empty puts the units into the suggested bin.
    bin = forms.CharField(max_length=32, required=False, label="Bin")
    quantity = column_integer_field(
        InboundReceipt, "quantity", min_value=1, max_value=10000, initial=1, required=False
    )

    def clean_quantity(self):
        return self.cleaned_data.get("quantity") or 1


class BinMoveForm(forms.Form):
    """Move units of one product between two bins of its warehouse (the stock page)."""

    from_bin: forms.ModelChoiceField[Bin] = forms.ModelChoiceField(
        queryset=None, label="From bin", empty_label=None
    )
    to_bin = forms.CharField(max_length=32, label="To bin (code)")
    quantity = column_integer_field(BinStock, "quantity", min_value=1, label="Quantity")

    def __init__(self, *args, holding: list[Bin] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        field = cast("forms.ModelChoiceField[Bin]", self.fields["from_bin"])  # declared above
        field.queryset = Bin.objects.filter(pk__in=[b.pk for b in holding or []])


class BinFilterForm(forms.Form):
    warehouse = column_integer_field(Warehouse, "id", required=False, min_value=1)
    zone = forms.CharField(max_length=16, required=False)


class WaveBuildForm(forms.Form):
    """Build pick waves at one own warehouse, with the size limits of one wave."""

    warehouse: forms.ModelChoiceField[Warehouse] = forms.ModelChoiceField(
        queryset=Warehouse.objects.filter(kind=Warehouse.Kind.OWN, is_active=True),
        empty_label=None,
        to_field_name="code",
    )
    max_shipments = forms.IntegerField(min_value=1, max_value=500, initial=25)
    max_units = forms.IntegerField(min_value=1, max_value=10000, initial=250)


class WaveFilterForm(forms.Form):
    warehouse = column_integer_field(Warehouse, "id", required=False, min_value=1)
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *PickWave.Status.choices]
    )


class PickScanForm(forms.Form):
    """One scan on the handheld: a bin label or an item's barcode (a scanner types + Enter)."""

    task = column_integer_field(PickTask, "id", min_value=1)
    code = forms.CharField(max_length=64, strip=True)


class PickShortForm(forms.Form):
    task = column_integer_field(PickTask, "id", min_value=1)
    found = column_integer_field(PickTask, "picked_quantity", min_value=0, label="Found")


# --- The pack station -------------------------------------------------------------------


def _id_field(model: type[models.Model]) -> forms.IntegerField:
    return column_integer_field(model, "id", min_value=1)


class PackStartForm(forms.Form):
    """The shipment scanned at the pack station: SHP-123, 123 or an order number."""

    code = forms.CharField(max_length=64, strip=True)


class PackScanForm(forms.Form):
    """One item scanned into the current parcel (a scanner types + Enter)."""

    code = forms.CharField(max_length=64, strip=True)


class PackParcelForm(forms.Form):
    box = forms.ModelChoiceField(
        queryset=Box.objects.filter(is_active=True).order_by("code"), to_field_name="code"
    )
    # Optional: the parcel may be weighed once it is full.
    weight_grams = column_integer_field(Parcel, "weight_grams", min_value=1, required=False)


class PackWeighForm(forms.Form):
    """A scale types the grams into the field (and Enter)."""

    parcel = _id_field(Parcel)
    weight_grams = column_integer_field(Parcel, "weight_grams", min_value=1)


class PackMoveForm(forms.Form):
    parcel = _id_field(Parcel)
    target = _id_field(Parcel)
    line = _id_field(ShipmentLine)
    quantity = column_integer_field(ParcelItem, "quantity", min_value=1)


class PackParcelRemoveForm(forms.Form):
    parcel = _id_field(Parcel)


class PackBuyForm(forms.Form):
    label_format = forms.ChoiceField(choices=[("PDF", "PDF"), ("ZPL", "ZPL")], initial="PDF")


REROUTE_REASON_MAX = 500


class OrderRerouteForm(forms.Form):
    """Re-route one order from its page: why, and optionally a site to avoid."""

    reason = forms.CharField(max_length=REROUTE_REASON_MAX, label="Reason")
    avoid_site = forms.ChoiceField(required=False, label="Avoid site")

    def __init__(self, *args, sites: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        avoid = cast("forms.ChoiceField", self.fields["avoid_site"])
        avoid.choices = [("", "No site to avoid (route again)"), *sites]


class BulkRerouteForm(forms.Form):
    """Re-route many orders as a job: typed numbers, or every order of a queue."""

    numbers = forms.CharField(
        required=False,
        max_length=BULK_NUMBERS_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "CS-000123, CS-000124 …"}),
        help_text="Order numbers separated by spaces, commas or new lines.",
    )
    queue = forms.ChoiceField(
        required=False,
        label="Or every order of",
        help_text="At most 5,000, oldest first.",
    )
    avoid_site = forms.ChoiceField(required=False, label="Avoid site")
    reason = forms.CharField(max_length=REROUTE_REASON_MAX, label="Reason")

    def __init__(self, *args, sites: list[tuple[str, str]], has_selection: bool = False, **kwargs):
        from backoffice.selectors.reroute import REROUTE_QUEUES

        super().__init__(*args, **kwargs)
        self.has_selection = has_selection
        queue = cast("forms.ChoiceField", self.fields["queue"])
        queue.choices = [("", "—"), *REROUTE_QUEUES.items()]
        avoid = cast("forms.ChoiceField", self.fields["avoid_site"])
        avoid.choices = [("", "No site to avoid (route again)"), *sites]

    def clean_numbers(self):
        from backoffice.selectors import bulk_entries_split
        from backoffice.services import BULK_JOB_MAX_ORDERS

        numbers = self.cleaned_data["numbers"]
        if len(bulk_entries_split(text=numbers)) > BULK_JOB_MAX_ORDERS:
            raise forms.ValidationError(f"At most {BULK_JOB_MAX_ORDERS} numbers at a time.")
        return numbers

    def clean(self):
        data = super().clean()
        if not self.has_selection and not data.get("numbers", "").strip() and not data.get("queue"):
            raise forms.ValidationError("Give order numbers or choose a queue.")
        return data
