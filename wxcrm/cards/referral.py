"""The referral poster: a member's own WeChat QR code (scene ``ref_<member id>``) and what the
referral rules give. WeChat allows 100,000 permanent codes an account, so these are temporary
codes of 30 days (WeChat's most), made again when the member opens the page in the last day
of one. A friend who follows through it is recorded as referred (the callback's
``SCENE_REFERRER``)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatClientException

from wxcrm.cards.models import ReferralQr
from wxcrm.errors import N_, DomainError
from wxcrm.members.models import Member
from wxcrm.rules import storage as rules

LIFETIME_SECONDS = 2_592_000            # 30 days, WeChat's limit for a temporary code
RENEW_BEFORE = timedelta(days=1)


def referral_qr(session: Session, client, member: Member, *, now: datetime) -> ReferralQr:
    found = session.get(ReferralQr, member.id)
    if found is not None and found.expires_at - now > RENEW_BEFORE:
        return found
    try:
        answer = client.qrcode.create({"action_name": "QR_STR_SCENE", "expire_seconds": LIFETIME_SECONDS,
                                       "action_info": {"scene": {"scene_str": f"ref_{member.id}"}}})
    except WeChatClientException as exc:
        raise DomainError(N_("WeChat did not make the QR code: %(error)s") % {"error": exc.errmsg or exc.errcode},
                          code="wechat_qr_failed", status=502, params={"errcode": exc.errcode}) from exc
    if found is None:
        found = ReferralQr(member_id=member.id)
        session.add(found)
    found.ticket, found.url = answer["ticket"], answer["url"]
    found.expires_at = now + timedelta(seconds=int(answer.get("expire_seconds") or LIFETIME_SECONDS))
    session.flush()
    return found


def referral_rewards(session: Session) -> list[tuple[str, str]]:
    """What the live referral rules give the member who brings a friend, in words (zh, en)."""
    out = []
    for rule in rules.list_rules(session, status="active", event="referral"):
        for action in rules.rule_json(rule).get("actions", []):
            kind = action.get("type")
            if kind == "bonus_points":
                out.append((f"{action.get('points')} 积分", f"{action.get('points')} points"))
            elif kind == "bonus_stored_value":
                yuan = f"{int(action.get('amount_fen', 0)) / 100:.2f}"
                out.append((f"{yuan} 元储值", f"{yuan} yuan of stored value"))
            else:
                out.append((rule.name, rule.name))
    return out
