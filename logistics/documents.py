"""Shipping documents as PDF: commercial invoice (customs shipments), packing slip (all)
and the pick list of a wave or a shipment (own sites).

Rendered on request from the database (nothing stored), with fpdf2's core fonts, so
text is Latin-1: anything else is replaced rather than failing the download.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from fpdf import FPDF

from core.errors import NotFound
from logistics import error_codes
from logistics.models import CustomsDeclaration, PickTask, Shipment


def _t(value: object) -> str:
    return str(value).replace("→", "->").encode("latin-1", "replace").decode("latin-1")


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.quantize(Decimal('0.01')):,.2f}"


class _Document(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.doc_title = title
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title(title)
        self.set_creator("Consign")
        self.add_page()

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 6, _t(f"{self.doc_title} - page {self.page_no()}"), align="C")

    def heading(self, text: str) -> None:
        self.set_font("Helvetica", "B", 16)
        self.cell(0, 10, _t(text), new_x="LMARGIN", new_y="NEXT")

    def block(self, title: str, lines: list[str], x: float, y: float, w: float = 90) -> float:
        self.set_xy(x, y)
        self.set_font("Helvetica", "B", 9)
        self.cell(w, 5, _t(title), new_x="LEFT", new_y="NEXT")
        self.set_font("Helvetica", size=9)
        for line in lines:
            if line:
                self.cell(w, 4.5, _t(line), new_x="LEFT", new_y="NEXT")
        return self.get_y()

    # Not `table`: that name is fpdf2's own table API, which this would silently replace.
    def simple_table(self, headers: list[str], widths: list[float], rows: list[list[str]]) -> None:
        self.set_font("Helvetica", "B", 8)
        for header, width in zip(headers, widths, strict=True):
            self.cell(width, 6, _t(header), border=1)
        self.ln()
        self.set_font("Helvetica", size=8)
        for row in rows:
            for value, width in zip(row, widths, strict=True):
                self.cell(width, 6, _t(value)[:60], border=1)
            self.ln()


def _addresses(pdf: _Document, shipment: Shipment, *, top: float) -> float:
    order = shipment.order
    warehouse = shipment.warehouse
    seller = [settings.DOCUMENTS_SELLER_NAME, settings.DOCUMENTS_SELLER_ADDRESS]
    ship_from = [
        f"{warehouse.name} ({warehouse.code})",
        warehouse.line1,
        f"{warehouse.postcode} {warehouse.city}".strip(),
        warehouse.country,
    ]
    ship_to = [
        order.shipping_name,
        order.shipping_line1,
        order.shipping_line2,
        f"{order.shipping_postcode} {order.shipping_city}".strip(),
        order.shipping_region,
        order.shipping_country,
    ]
    left = pdf.block("Seller / exporter", seller, 10, top)
    left = pdf.block("Ship from", ship_from, 10, left + 2)
    right = pdf.block("Ship to / consignee", ship_to, 110, top)
    return max(left, right) + 4


def commercial_invoice_pdf(*, shipment: Shipment, declaration: CustomsDeclaration) -> bytes:
    """The commercial invoice of a shipment crossing a customs border, from its declaration."""
    order = shipment.order
    pdf = _Document(f"Commercial invoice {declaration.invoice_number}")
    pdf.heading("COMMERCIAL INVOICE")
    pdf.set_font("Helvetica", size=9)
    facts = [
        f"Invoice number: {declaration.invoice_number}",
        f"Date: {timezone.localdate():%Y-%m-%d}",
        f"Order: {order.number} (ref. {order.external_reference})",
        f"Shipment: {shipment.pk}  Tracking: {shipment.tracking_number or 'pending'}",
        f"Incoterm: {declaration.incoterm}   Contents: {declaration.get_contents_type_display()}",
        f"Exporter EORI: {declaration.exporter_eori}   VAT: {declaration.exporter_vat}",
        f"Route: {declaration.origin_country} -> {declaration.destination_country}",
    ]
    for fact in facts:
        pdf.cell(0, 5, _t(fact), new_x="LMARGIN", new_y="NEXT")
    y = _addresses(pdf, shipment, top=pdf.get_y() + 3)
    pdf.set_xy(10, y)
    rows = [
        [
            line.sku,
            line.description,
            line.hs_code or "MISSING",
            line.origin_country or "MISSING",
            str(line.quantity),
            _money(line.unit_value),
            _money(line.value),
            f"{line.weight_grams / 1000:.3f}",
        ]
        for line in declaration.lines.all()
    ]
    pdf.simple_table(
        ["SKU", "Description", "HS code", "Origin", "Qty", "Unit value", "Value", "Kg"],
        [28, 52, 20, 14, 12, 22, 22, 20],
        rows,
    )
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(
        0,
        6,
        _t(f"Total value: {_money(declaration.total_value)} {declaration.currency}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.cell(
        0,
        6,
        _t(f"Total weight: {declaration.total_weight_grams / 1000:.3f} kg"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Helvetica", size=8)
    pdf.ln(4)
    pdf.multi_cell(
        0,
        4,
        _t(
            "I declare that the information on this invoice is true and correct and that the "
            "goods are of the origin stated."
        ),
    )
    return bytes(pdf.output())


def packing_slip_pdf(*, shipment: Shipment) -> bytes:
    """The packing slip of any shipment: what is in the box, for the picker and the customer."""
    order = shipment.order
    pdf = _Document(f"Packing slip {order.number}-{shipment.pk}")
    pdf.heading("PACKING SLIP")
    pdf.set_font("Helvetica", size=9)
    for fact in [
        f"Order: {order.number} (ref. {order.external_reference})",
        f"Shipment: {shipment.pk}  Provider: {shipment.provider.code}",
        f"Tracking: {shipment.tracking_number or 'pending'}",
        f"Placed: {order.placed_at:%Y-%m-%d}",
    ]:
        pdf.cell(0, 5, _t(fact), new_x="LMARGIN", new_y="NEXT")
    y = _addresses(pdf, shipment, top=pdf.get_y() + 3)
    pdf.set_xy(10, y)
    rows = []
    total = 0
    for line in shipment.lines.select_related("order_line__product").order_by(
        "order_line__line_number"
    ):
        product = line.order_line.product
        rows.append(
            [
                str(line.order_line.line_number),
                line.order_line.sku,
                product.name,
                product.barcode or "",
                str(line.quantity),
            ]
        )
        total += line.quantity
    pdf.simple_table(["Line", "SKU", "Product", "Barcode", "Qty"], [14, 36, 90, 36, 14], rows)
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 6, _t(f"Items: {total}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=8)
    pdf.multi_cell(
        0,
        4,
        _t(
            f"Returns: within {order.channel.return_window_days} days of delivery. "
            "Ask for a return label; do not send goods back without one."
        ),
    )
    return bytes(pdf.output())


def shipment_document_pdf(*, shipment: Shipment, kind: str) -> tuple[bytes, str]:
    """(PDF bytes, file name) of one shipping document; NotFound when it does not exist."""
    if kind == "packing-slip":
        return packing_slip_pdf(
            shipment=shipment
        ), f"packing-slip-{shipment.order.number}-{shipment.pk}.pdf"
    if kind == "commercial-invoice":
        declaration = (
            CustomsDeclaration.objects.prefetch_related("lines").filter(shipment=shipment).first()
        )
        if declaration is None:
            raise NotFound(
                f"Shipment {shipment.pk} does not cross a customs border; it has no commercial "
                "invoice.",
                code=error_codes.DOCUMENT_NOT_FOUND,
            )
        return (
            commercial_invoice_pdf(shipment=shipment, declaration=declaration),
            f"{declaration.invoice_number}.pdf",
        )
    raise NotFound(f"No document {kind!r}.", code=error_codes.DOCUMENT_NOT_FOUND)


def pick_list_pdf(*, title: str, tasks: list[PickTask]) -> bytes:
    """A printable pick list: the tasks in pick-path order (bin, SKU, product, quantity,
    shipment), with a box to tick. `tasks` come with bin, product, wave and shipment."""
    pdf = _Document(title)
    pdf.heading(title.upper())
    pdf.set_font("Helvetica", size=9)
    units = sum(t.quantity for t in tasks)
    shipments = len({t.shipment_id for t in tasks})
    pdf.cell(
        0,
        5,
        _t(
            f"{len(tasks)} picks, {units} units, {shipments} shipment(s). Printed {timezone.now():%Y-%m-%d %H:%M}"
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(2)
    rows = [
        [
            str(i),
            t.bin.code,
            t.bin.zone,
            t.product.sku,
            t.product.name,
            str(t.quantity),
            f"SHP-{t.shipment_id} {t.shipment.order.number}",
            "[ ]" if t.status == PickTask.Status.OPEN else t.get_status_display(),
        ]
        for i, t in enumerate(tasks, start=1)
    ]
    pdf.simple_table(
        ["#", "Bin", "Zone", "SKU", "Product", "Qty", "Shipment", "Done"],
        [8, 22, 12, 30, 52, 10, 40, 16],
        rows,
    )
    return bytes(pdf.output())
