"""Store QR codes: a permanent parametric WeChat QR code per store (scene ``store_<code>``),
made once through wechatpy's QR code API and kept, and a printable poster of it (PNG and
SVG). Scanning it follows the account and sets the member's home store (the callback's
``SCENE_STORE``).

WeChat's limits (the stand-in knows them): a permanent code's ``scene_str`` is 1..64
characters, an account has at most 100,000 permanent codes (asking again for the same
scene gives the same ticket), a temporary one lives at most 2,592,000 s (30 days).
"""
from __future__ import annotations

import io
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatClientException

from wxcrm.cards import images
from wxcrm.cards.models import StoreCardSettings
from wxcrm.errors import N_, DomainError
from wxcrm.members.models import Store

SCENE_MAX = 64
PERMANENT_MAX = 100_000
TEMPORARY_MAX_SECONDS = 2_592_000
INSTRUCTION_ZH = "微信扫一扫 · 关注领取会员卡 · 消费即可积分"
INSTRUCTION_EN = "Scan with WeChat to follow us, get your member card and earn points"


def store_scene(store: Store) -> str:
    scene = f"store_{store.code}"
    if not 1 <= len(scene) <= SCENE_MAX:
        raise DomainError(f"a scene is at most {SCENE_MAX} characters", code="qr_scene_too_long")
    return scene


def store_qr(session: Session, store: Store) -> StoreCardSettings | None:
    found = session.get(StoreCardSettings, store.id)
    return found if found is not None and found.qr_url else None


def create_store_qr(session: Session, client, store: Store, *, now: datetime) -> StoreCardSettings:
    """The store's permanent QR code, made through WeChat the first time (``client``: the
    wechatpy client, with its timeout) and kept; later calls return the stored one."""
    found = session.get(StoreCardSettings, store.id)
    if found is not None and found.qr_url:
        return found
    scene = store_scene(store)
    try:
        answer = client.qrcode.create({"action_name": "QR_LIMIT_STR_SCENE",
                                       "action_info": {"scene": {"scene_str": scene}}})
    except WeChatClientException as exc:
        raise DomainError(N_("WeChat did not make the QR code: %(error)s") % {"error": exc.errmsg or exc.errcode},
                          code="wechat_qr_failed", status=502, params={"errcode": exc.errcode}) from exc
    if found is None:
        found = StoreCardSettings(store_id=store.id, typed_card_spends=False)
        session.add(found)
    found.qr_scene, found.qr_ticket, found.qr_url, found.qr_created_at = scene, answer["ticket"], answer["url"], now
    session.flush()
    return found


# ---------------------------------------------------------------- the poster

W, H = 1200, 1700
QR_SIZE = 760


@lru_cache(maxsize=4)
def _font(size: int):
    for path in ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                 "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default()


def _centered(draw: ImageDraw.ImageDraw, y: int, text: str, size: int, fill: str) -> None:
    font = _font(size)
    width = draw.textlength(text, font=font)
    draw.text(((W - width) / 2, y), text, font=font, fill=fill)


def poster_png(brand: str, store: Store, qr_url: str) -> bytes:
    image = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, W, 260), fill="#07c160")
    _centered(draw, 70, brand, 64, "white")
    _centered(draw, 160, store.name, 52, "white")
    qr = images.qr_image(qr_url, box_size=20, border=2).resize((QR_SIZE, QR_SIZE), Image.NEAREST)
    image.paste(qr, ((W - QR_SIZE) // 2, 360))
    _centered(draw, 1180, INSTRUCTION_ZH, 44, "#191919")
    _centered(draw, 1260, INSTRUCTION_EN, 30, "#555555")
    _centered(draw, 1560, store.code, 28, "#8a8f99")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def poster_svg(brand: str, store: Store, qr_url: str) -> str:
    qr = images.qr_svg(qr_url, box_size=10, border=2)
    qr = qr.replace("<svg ", f'<svg x="{(W - QR_SIZE) // 2}" y="360" width="{QR_SIZE}" height="{QR_SIZE}" ', 1)
    font = 'font-family="PingFang SC, Microsoft YaHei, WenQuanYi Micro Hei, sans-serif" text-anchor="middle"'
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}">'
            f'<rect width="{W}" height="{H}" fill="#fff"/><rect width="{W}" height="260" fill="#07c160"/>'
            f'<text x="{W // 2}" y="130" font-size="64" fill="#fff" {font}>{escape(brand)}</text>'
            f'<text x="{W // 2}" y="215" font-size="52" fill="#fff" {font}>{escape(store.name)}</text>'
            f'{_sized(qr)}'
            f'<text x="{W // 2}" y="1225" font-size="44" fill="#191919" {font}>{escape(INSTRUCTION_ZH)}</text>'
            f'<text x="{W // 2}" y="1295" font-size="30" fill="#555" {font}>{escape(INSTRUCTION_EN)}</text>'
            f'<text x="{W // 2}" y="1590" font-size="28" fill="#8a8f99" {font}>{escape(store.code)}</text></svg>')


def _sized(qr_svg: str) -> str:
    """The QR's own svg element placed in the poster: drop its mm size (ours comes first)."""
    head, rest = qr_svg.split(">", 1)
    parts = head.split(" ")
    seen: set[str] = set()
    kept = []
    for part in parts:
        name = part.split("=", 1)[0]
        if name in ("width", "height") and name in seen:
            continue
        seen.add(name)
        kept.append(part)
    return " ".join(kept) + ">" + rest
