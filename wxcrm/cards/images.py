"""QR codes (``qrcode``) and Code 128 barcodes (``python-barcode``) as SVG and PNG."""
from __future__ import annotations

import io

import barcode
import qrcode
import qrcode.image.svg
from barcode.writer import ImageWriter


def qr_svg(text: str, *, box_size: int = 10, border: int = 2) -> str:
    """An SVG QR code (one path, scales to any size)."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=border,
                       image_factory=qrcode.image.svg.SvgPathImage)
    qr.add_data(text)
    qr.make(fit=True)
    return qr.make_image().to_string(encoding="unicode")


def qr_image(text: str, *, box_size: int = 10, border: int = 2):
    """A PIL image of the QR code (for posters)."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=border)
    qr.add_data(text)
    qr.make(fit=True)
    return qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")


def qr_png(text: str, *, box_size: int = 10, border: int = 2) -> bytes:
    out = io.BytesIO()
    qr_image(text, box_size=box_size, border=border).save(out, format="PNG")
    return out.getvalue()


_BARCODE_OPTIONS = {"module_width": 0.33, "module_height": 14.0, "quiet_zone": 4.0, "write_text": False}


def barcode_svg(digits: str, *, height: int = 40, quiet: int = 10) -> str:
    """A Code 128 barcode of ``digits`` (python-barcode encodes it; code set C carries two
    digits a symbol) as an SVG that scales to its box: one rect per bar, in module units."""
    modules = barcode.get("code128", digits).build()[0]
    bars, x = [], quiet
    for run in _runs(modules):
        if run[0] == "1":
            bars.append(f'<rect x="{x}" y="0" width="{len(run)}" height="{height}"/>')
        x += len(run)
    width = x + quiet
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
            f'shape-rendering="crispEdges"><rect width="{width}" height="{height}" fill="#fff"/>'
            f'<g fill="#000">{"".join(bars)}</g></svg>')


def _runs(modules: str):
    start = 0
    for i in range(1, len(modules) + 1):
        if i == len(modules) or modules[i] != modules[start]:
            yield modules[start:i]
            start = i


def barcode_png(digits: str) -> bytes:
    out = io.BytesIO()
    barcode.get("code128", digits, writer=ImageWriter()).write(out, options=dict(_BARCODE_OPTIONS, dpi=200))
    return out.getvalue()
