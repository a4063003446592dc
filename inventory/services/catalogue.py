"""The shared catalogue's writes: upsert products by SKU, one or a batch (docs/decisions/0008).

Products are one catalogue shared by every channel: the partner API lets any channel
read it and channels with the catalogue-write right change it (the API checks the
right; this records who wrote last, `Product.updated_by_channel`).

An upsert changes the fields it is given and keeps the others (a new product takes
the defaults); `barcodes` replaces the product's barcodes, the first being the primary
one (`Product.barcode`). A batch is done set-based: the same handful of statements for
one item or a thousand, each item judged on its own (a bad item is refused with its
problem, the others are written).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypedDict

from django.core.exceptions import ValidationError
from django.db import transaction

from core.errors import ValidationFailed
from inventory import error_codes
from inventory.models import Product, ProductBarcode
from inventory.sql import catalogue_lock

logger = logging.getLogger(__name__)

MAX_BATCH = 1000
MAX_BARCODES = 20
SKU_MAX_LENGTH = 64
# A SKU the catalogue creates: 1 to 64 printable ASCII characters, no space at either end,
# not "." or ".." (a URL path segment those would be). It names the product in
# /api/v1/products/{sku}/, so it must survive a URL: a client percent-encodes the
# characters a path reserves ("/", "?", "#", "%", space). Older products keep their SKU.
SKU_PATTERN = r"^(?!\.\.?$)[!-~](?:[ -~]{0,62}[!-~])?$"
_SKU = re.compile(SKU_PATTERN)
BARCODE_PATTERN = r"^[!-~]{1,64}$"
_BARCODE = re.compile(BARCODE_PATTERN)
# The check product_hs_code_digits, said before the database says it.
_HS_CODE = re.compile(r"^[0-9]{6,10}$")

# API name -> model field; the API's `active` is the model's `is_active`.
_FIELDS = {
    "name": "name",
    "weight_grams": "weight_grams",
    "length_mm": "length_mm",
    "width_mm": "width_mm",
    "height_mm": "height_mm",
    "hs_code": "hs_code",
    "country_of_origin": "country_of_origin",
    "customs_description": "customs_description",
    "customs_value": "customs_value",
    "customs_currency": "customs_currency",
    "active": "is_active",
}
_WRITTEN = [*_FIELDS.values(), "barcode", "updated_by_channel", "updated_at"]


class ProductChanges(TypedDict, total=False):
    """The fields an upsert sets (types as the API serializer gives them)."""

    name: str
    barcodes: list[str]
    weight_grams: int
    length_mm: int
    width_mm: int
    height_mm: int
    hs_code: str
    country_of_origin: str
    customs_description: str
    customs_value: Decimal | None
    customs_currency: str
    active: bool


@dataclass(frozen=True)
class ProductUpsert:
    sku: str
    changes: ProductChanges


@dataclass
class UpsertOutcome:
    """One item's result: 201 created or 200 updated with `product`, or 422 with `problem`."""

    sku: str | None  # None: an API batch item without a SKU string
    status: int
    product: Product | None = None
    problem: ValidationFailed | None = None


def _invalid(
    errors: list[dict[str, str]], *, code: str = error_codes.INVALID_PRODUCT, **extra: Any
) -> ValidationFailed:
    return ValidationFailed("The product has invalid fields.", code=code, errors=errors, **extra)


@dataclass
class _Batch:
    """What the batch knows before writing: the products and who holds each barcode."""

    existing: dict[str, Product]
    holder: dict[str, str]  # barcode -> SKU holding it (stored, or claimed by an earlier item)

    def judge(self, item: ProductUpsert, *, channel_id: int | None) -> Product | ValidationFailed:
        """The product with the item's changes applied (unsaved), or the item's problem."""
        sku, changes = item.sku, item.changes
        product = self.existing.get(sku)
        refused = (_new_product_errors(sku, changes) if product is None else None) or (
            _own_errors(changes)
        )
        if refused:
            return _invalid(refused)
        barcodes = changes.get("barcodes")
        taken = self._taken(sku, barcodes or [])
        if taken is not None:
            return taken
        product = product or Product(sku=sku)
        for name, field in _FIELDS.items():
            if name in changes:
                setattr(product, field, changes[name])  # type: ignore[literal-required]
        if barcodes is not None:
            product.barcode = barcodes[0] if barcodes else None
        refused = _product_errors(product)
        if refused:
            return _invalid(refused)
        product.updated_by_channel_id = channel_id
        for code in barcodes or ():
            self.holder[code] = sku
        return product

    def _taken(self, sku: str, barcodes: list[str]) -> ValidationFailed | None:
        """barcode_taken naming the SKUs that hold some of `barcodes`, or None."""
        taken = [
            (index, code, self.holder[code])
            for index, code in enumerate(barcodes)
            if self.holder.get(code, sku) != sku
        ]
        if not taken:
            return None
        return _invalid(
            [
                {
                    "field": f"barcodes[{index}]",
                    "message": f"Barcode {code} belongs to SKU {owner}.",
                }
                for index, code, owner in taken
            ],
            code=error_codes.BARCODE_TAKEN,
            barcode_holders=[{"barcode": code, "sku": owner} for _, code, owner in taken],
        )


def _new_product_errors(sku: str, changes: ProductChanges) -> list[dict[str, str]]:
    if not _SKU.match(sku):
        return [{"field": "sku", "message": _sku_message(sku)}]
    if not changes.get("name", "").strip():
        return [{"field": "name", "message": "A new product needs a name."}]
    return []


def _product_errors(product: Product) -> list[dict[str, str]]:
    """The rules of the product as changed: the customs pair and the model's field rules."""
    if product.customs_value is not None and not product.customs_currency:
        return [{"field": "customs_currency", "message": "A customs value needs its currency."}]
    try:
        # Field rules of the model (ISO codes, HS code digits, lengths); the uniques are
        # the batch's own (barcodes, SKUs once per batch).
        product.full_clean(
            exclude=["updated_by_channel"], validate_unique=False, validate_constraints=False
        )
    except ValidationError as exc:
        return [
            {"field": _api_name(field), "message": message}
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
    return []


def _sku_message(sku: str) -> str:
    if len(sku) > SKU_MAX_LENGTH:
        return f"A SKU has at most {SKU_MAX_LENGTH} characters."
    return (
        "A new SKU is 1 to 64 printable ASCII characters without a space at either end "
        "(not '.' or '..')."
    )


def _api_name(field: str) -> str:
    return {"is_active": "active", "barcode": "barcodes[0]"}.get(field, field)


def _own_errors(changes: ProductChanges) -> list[dict[str, str]]:
    """The item's errors that need nothing but the item (the API serializer checks types)."""
    errors = []
    if "name" in changes and not changes["name"].strip():
        errors.append({"field": "name", "message": "May not be blank."})
    barcodes = changes.get("barcodes")
    if barcodes is not None:
        if len(barcodes) > MAX_BARCODES:
            errors.append({"field": "barcodes", "message": f"At most {MAX_BARCODES} barcodes."})
        seen: set[str] = set()
        for index, code in enumerate(barcodes):
            if not _BARCODE.match(code):
                errors.append(
                    {
                        "field": f"barcodes[{index}]",
                        "message": "A barcode is 1 to 64 printable ASCII characters, no spaces.",
                    }
                )
            elif code in seen:
                errors.append(
                    {"field": f"barcodes[{index}]", "message": f"{code} is listed twice."}
                )
            seen.add(code)
    hs_code = changes.get("hs_code")
    if hs_code and not _HS_CODE.match(hs_code):
        errors.append({"field": "hs_code", "message": "6 to 10 digits (or empty)."})
    for name in ("weight_grams", "length_mm", "width_mm", "height_mm"):
        value = changes.get(name)
        if value is not None and not 0 <= value <= 2_147_483_647:  # type: ignore[operator]
            errors.append({"field": name, "message": "A whole number from 0 to 2147483647."})
    return errors


def _log(products: Sequence[tuple[Product, bool]], channel_id: int | None) -> None:
    # One line per write (not per product): the SKUs it created and updated, and the
    # channel, which Product.updated_by_channel also keeps.
    logger.info(
        "product.updated",
        extra={
            "channel_id": channel_id,
            "skus_created": [product.sku for product, created in products if created],
            "skus_updated": [product.sku for product, created in products if not created],
        },
    )


@transaction.atomic
def products_upsert_batch(
    *, items: Sequence[ProductUpsert], channel_id: int | None
) -> list[UpsertOutcome]:
    """Create or update each item's product by SKU; one outcome per item, in input order.

    Items are independent: an invalid item (422 `invalid_product`), a barcode another
    product holds (422 `barcode_taken`, naming the SKU) or a SKU given twice (the later
    one, 422) is refused and the others are written. At most MAX_BATCH items (raises
    ValidationFailed). Writers naming the same SKUs or barcodes are serialised by
    advisory locks, so a concurrent write neither loses an update nor trips a unique
    constraint. A barcode moves between products in two writes (drop it, then add it).
    """
    if len(items) > MAX_BATCH:
        raise ValidationFailed(
            f"At most {MAX_BATCH} products per batch.",
            code=error_codes.INVALID_PRODUCT,
            errors=[{"field": "products", "message": f"At most {MAX_BATCH} items."}],
        )
    skus = list(dict.fromkeys(item.sku for item in items))
    wanted = {code for item in items for code in item.changes.get("barcodes") or ()}
    catalogue_lock(names=[f"sku:{sku}" for sku in skus] + [f"barcode:{code}" for code in wanted])
    existing = {
        product.sku: product
        for product in Product.objects.select_for_update().filter(sku__in=skus).order_by("pk")
    }
    batch = _Batch(
        existing=existing,
        holder=dict(
            ProductBarcode.objects.filter(barcode__in=wanted).values_list("barcode", "product__sku")
        ),
    )
    outcomes: list[UpsertOutcome] = []
    seen: set[str] = set()
    good: list[tuple[Product, bool, list[str] | None]] = []
    for item in items:
        if item.sku in seen:
            problem = _invalid(
                [{"field": "sku", "message": f"{item.sku} appears more than once in the batch."}]
            )
            outcomes.append(UpsertOutcome(sku=item.sku, status=422, problem=problem))
            continue
        seen.add(item.sku)
        judged = batch.judge(item, channel_id=channel_id)
        if isinstance(judged, ValidationFailed):
            outcomes.append(UpsertOutcome(sku=item.sku, status=422, problem=judged))
            continue
        created = item.sku not in existing
        good.append((judged, created, item.changes.get("barcodes")))
        outcomes.append(UpsertOutcome(sku=item.sku, status=201 if created else 200, product=judged))
    if good:
        _write(good)
        _log([(product, created) for product, created, _ in good], channel_id)
    return outcomes


def _write(good: list[tuple[Product, bool, list[str] | None]]) -> None:
    """Upsert the products (one statement) and bring their barcode rows to the lists given."""
    # The primary barcode reaches inventory_productbarcode through the table's trigger.
    Product.objects.bulk_create(
        [product for product, _, _ in good],
        update_conflicts=True,
        unique_fields=["sku"],
        update_fields=_WRITTEN,
    )
    desired = {product.pk: barcodes for product, _, barcodes in good if barcodes is not None}
    if not desired:
        return
    current: dict[int, dict[str, int]] = {pk: {} for pk in desired}
    for pk, product_id, code in ProductBarcode.objects.filter(
        product_id__in=list(desired)
    ).values_list("pk", "product_id", "barcode"):
        current[product_id][code] = pk
    stale = [
        pk
        for product_id, codes in current.items()
        for code, pk in codes.items()
        if code not in desired[product_id]
    ]
    if stale:
        ProductBarcode.objects.filter(pk__in=stale).delete()
    missing = [
        ProductBarcode(product_id=product_id, barcode=code)
        for product_id, codes in desired.items()
        for code in codes
        if code not in current[product_id]
    ]
    if missing:
        ProductBarcode.objects.bulk_create(missing)


def product_upsert(
    *, sku: str, changes: ProductChanges, channel_id: int | None
) -> tuple[Product, bool]:
    """Create or update the product `sku`; returns it and whether it was created.

    Raises ValidationFailed (422): `invalid_product` with the fields at fault (a new
    product without a name or with a SKU outside SKU_PATTERN, bad codes), or
    `barcode_taken` naming the SKU that holds the barcode.
    """
    (outcome,) = products_upsert_batch(
        items=[ProductUpsert(sku=sku, changes=changes)], channel_id=channel_id
    )
    if outcome.product is None:
        raise outcome.problem or ValidationFailed("The product was not written.")
    return outcome.product, outcome.status == 201
