"""The deferred card API calls the outbox carries on its ``card`` channel, one per purpose:

- ``wallet_card_sync``: the wallet member card's points and member fields (tier, coupons
  held, stored value), absolute values (sending it again is harmless);
- ``wallet_card_code``: the member's card was replaced, so the wallet card's code (the card
  number) changes (``card/code/update``); a retry after a lost answer finds the old code gone
  (40056) and the new one there, and is done;
- ``wallet_coupon_consume``: a coupon redeemed at the till is consumed in the member's
  WeChat card wallet (``card/code/consume``);
- ``wallet_coupon_unavailable``: a coupon wxcrm withdrew is made unavailable there
  (``card/code/unavailable``).

WeChat's answer that the code is already gone ends the row as done, not failed: 40099 (already
consumed: a retry after a lost answer, or a consume with WeChat's own tools), 40127 (the member
deleted it from the wallet), 40078 (expired or already unavailable). The row keeps which one in
``remote_id``. Anything else is the dispatcher's (``errcodes``): retried with back-off, or parked.
"""
from __future__ import annotations

from wechatpy.exceptions import WeChatClientException

from wxcrm.messages.kinds import CARD_FIELD_VALUES
from wxcrm.messages.models import OutboxMessage

# purpose -> WeChat errcodes that mean "nothing left to do" for it
GONE = {
    "wallet_coupon_consume": {40099: "already consumed", 40127: "deleted by the member", 40078: "expired or withdrawn"},
    "wallet_coupon_unavailable": {40099: "already consumed", 40127: "deleted by the member",
                                  40078: "expired or already withdrawn"},
}


def send(client, row: OutboxMessage) -> str:
    """Make the row's card call; what to keep as its remote id ("" or "gone:<errcode>")."""
    p = row.payload
    if row.purpose == "wallet_card_sync":
        shown = {k: p[k] for k in CARD_FIELD_VALUES if k in p}
        client.card.update_membercard(p["code"], p["card_id"], bonus=int(p["bonus"]), **shown,
                                      notify_optional={"is_notify_bonus": False, "is_notify_custom_field1": False,
                                                       "is_notify_custom_field2": False,
                                                       "is_notify_custom_field3": False})
        return ""
    if row.purpose == "wallet_card_code":
        try:
            client.card.update_code(p["card_id"], p["code"], p["new_code"])
        except WeChatClientException as exc:
            if exc.errcode != 40056 or not _has_code(client, p["card_id"], p["new_code"]):
                raise
            return "gone:40056"         # made before, its answer lost
        return ""
    try:
        if row.purpose == "wallet_coupon_consume":
            client.card.consume_code(p["code"], card_id=p["card_id"])
        elif row.purpose == "wallet_coupon_unavailable":
            client.card.invalid_code(p["code"], card_id=p["card_id"])
        else:
            raise ValueError(f"no card call for {row.purpose}")
    except WeChatClientException as exc:
        if exc.errcode in GONE.get(row.purpose, {}):
            return f"gone:{exc.errcode}"
        raise
    return ""


def _has_code(client, card_id: str, code: str) -> bool:
    try:
        client.card.get_code(code, card_id=card_id, check_consume=False)
        return True
    except WeChatClientException:
        return False
