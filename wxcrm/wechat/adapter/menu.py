"""The account's menu: from WXCRM_WECHAT_MENU (JSON) or the default (card, points, profile,
card number), checked against WeChat's limits before `flask wxcrm wechat-menu` publishes it.

The default menu points only at pages that exist: the coupon wallet and the points catalogue
(积分兑换) are in it; the stored-value top-up (储值充值) joins it when WeChat Pay is on
(WXCRM_WECHAT_PAY_ENABLED), the fifth and last sub-button WeChat allows."""
from __future__ import annotations

import json

from wxcrm.config import Settings
from wxcrm.errors import DomainError

# CLICK keys the callback answers (wxcrm.wechat.faces.events)
KEY_CARD, KEY_POINTS, KEY_COUPONS = "MY_CARD", "MY_POINTS", "MY_COUPONS"

MAX_BUTTONS, MAX_SUB_BUTTONS = 3, 5
NAME_BYTES, SUB_NAME_BYTES = 16, 60
BUTTON_TYPES = {"click": "key", "view": "url"}


def default_menu(public_url: str, *, topup: bool = False) -> dict:
    h5 = public_url.rstrip("/") + "/h5"
    more = [{"type": "view", "name": "我的优惠券", "url": f"{h5}/coupons"},
            {"type": "view", "name": "积分兑换", "url": f"{h5}/coupons/exchange"},
            {"type": "view", "name": "个人资料", "url": f"{h5}/profile"},
            {"type": "click", "name": "会员卡号", "key": KEY_CARD}]
    if topup:
        more.insert(0, {"type": "view", "name": "储值充值", "url": f"{h5}/topup"})
    return {"button": [
        {"type": "view", "name": "会员卡", "url": f"{h5}/"},
        {"type": "click", "name": "我的积分", "key": KEY_POINTS},
        {"name": "更多", "sub_button": more},
    ]}


def menu_from_settings(settings: Settings) -> dict:
    raw = settings.wechat_menu.strip()
    if not raw:
        return default_menu(settings.public_url, topup=settings.wechat_pay_enabled)
    try:
        menu = json.loads(raw)
    except ValueError as exc:
        raise DomainError(f"WXCRM_WECHAT_MENU is not JSON: {exc}", code="invalid_menu") from exc
    check_menu(menu)
    return menu


def _check_button(button: dict, limit: int, where: str) -> None:
    name = button.get("name", "")
    if not name or len(name.encode()) > limit:
        raise DomainError(f"{where}: name must be 1-{limit} bytes", code="invalid_menu")
    kind = button.get("type")
    if kind not in BUTTON_TYPES:
        raise DomainError(f"{where}: type must be one of {', '.join(BUTTON_TYPES)}", code="invalid_menu")
    if not button.get(BUTTON_TYPES[kind]):
        raise DomainError(f"{where}: a {kind} button needs a {BUTTON_TYPES[kind]}", code="invalid_menu")


def check_menu(menu: dict) -> None:
    buttons = menu.get("button") if isinstance(menu, dict) else None
    if not buttons or len(buttons) > MAX_BUTTONS:
        raise DomainError(f"a menu has 1-{MAX_BUTTONS} buttons", code="invalid_menu")
    for i, button in enumerate(buttons, 1):
        subs = button.get("sub_button")
        if subs:
            name = button.get("name", "")
            if not name or len(name.encode()) > NAME_BYTES:
                raise DomainError(f"button {i}: name must be 1-{NAME_BYTES} bytes", code="invalid_menu")
            if len(subs) > MAX_SUB_BUTTONS:
                raise DomainError(f"button {i}: at most {MAX_SUB_BUTTONS} sub-buttons", code="invalid_menu")
            for j, sub in enumerate(subs, 1):
                _check_button(sub, SUB_NAME_BYTES, f"button {i}.{j}")
        else:
            _check_button(button, NAME_BYTES, f"button {i}")


def publish_menu(client, menu: dict) -> dict:
    check_menu(menu)
    return client.menu.create(menu)
