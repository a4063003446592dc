"""A minimal, valid one-page PDF label, written by hand (no dependency)."""

from __future__ import annotations


def _escape(text: str) -> str:
    text = text.encode("latin-1", errors="replace").decode("latin-1")
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def label_pdf(lines: list[str]) -> bytes:
    """A 4x6 inch label showing `lines` (the first one large), as PDF 1.4 bytes."""
    ops = ["BT", "/F1 20 Tf", "20 400 Td", "24 TL"]
    for index, line in enumerate(lines):
        if index == 1:
            ops.append("/F1 11 Tf")
            ops.append("14 TL")
        ops.append(f"({_escape(line)}) Tj T*")
    ops.append("ET")
    # A simple "barcode" box so that the label looks like one.
    ops.append("20 40 m 268 40 l 268 110 l 20 110 l h S")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 288 432] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n"
    ).encode()
    return bytes(out)
