"""Paid membership: a tier with a price (``Tier.price_fen``) and a term (``Tier.term_months``)
bought or renewed at the till with stored value or money taken at the counter. The membership
runs ``term_months`` from today or from its current end, whichever is later, and the tier is
held until then (the month-end review does not lower it); at the end the membership-expiry
event's rules decide, as for every member. Flushes, never commits."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxcrm.benefits.events import lock_member
from wxcrm.config import Settings
from wxcrm.errors import N_, DomainError, NotFound
from wxcrm.ledger import service as ledger
from wxcrm.members import service as members
from wxcrm.members.models import Staff, Tier
from wxcrm.money import fen_to_yuan_str
from wxcrm.timeutil import Clock, add_months, rfc3339
from wxcrm.topups.models import TOPUP_METHODS, MembershipPurchase
from wxcrm.topups.service import member_for_topup

MEMBERSHIP_METHODS = TOPUP_METHODS + ("stored_value",)


def buy_membership(session: Session, *, store_code: str, member_ref: dict, tier_code: str, method: str,
                   clock: Clock, settings: Settings, staff: Staff | None = None) -> MembershipPurchase:
    if method not in MEMBERSHIP_METHODS:
        raise DomainError(f"method must be one of {', '.join(MEMBERSHIP_METHODS)}", code="invalid_payment_method",
                          fields={"method": "invalid"})
    store = members.store_by_code(session, store_code)
    if staff is not None and staff.works_at_a_store and staff.store_id != store.id:
        raise DomainError(f"cashier {staff.username} does not work at {store.code}", code="wrong_store", status=403)
    tier = session.scalar(select(Tier).where(Tier.code == tier_code))
    if tier is None:
        raise NotFound(N_("no such tier"), code="tier_not_found")
    if not tier.price_fen:
        raise DomainError(N_("this tier is not for sale"), code="tier_not_for_sale")
    member = member_for_topup(session, member_ref)
    if member.status == "closed":
        raise DomainError(N_("this membership is closed"), code="member_closed")
    lock_member(session, member)
    purchase = MembershipPurchase(member_id=member.id, tier_id=tier.id, store_id=store.id,
                                  staff_id=staff.id if staff else None, price_fen=tier.price_fen, method=method,
                                  months=tier.term_months, expires_on=clock.today, created_at=clock.utc)
    session.add(purchase)
    session.flush()
    if method == "stored_value":     # the member is there, at the till (the same gate as a sale's)
        entry = ledger.debit_value(session, member.id, tier.price_fen, ledger.Cause(
            "membership", ref=str(purchase.id), staff_id=purchase.staff_id, at=clock.utc,
            text_zh=f"购买{tier.name} {tier.term_months} 个月", text_en=f"{tier.name_en or tier.code}: {tier.term_months} months"),
            order=settings.stored_value_spend_order)
        purchase.ledger_entry_id = entry.id
    start = max(member.expires_on or clock.today, clock.today)
    member.expires_on = add_months(start, tier.term_months)
    member.status = "active"
    purchase.expires_on = member.expires_on
    members.set_tier(session, member, tier, source="member", reason=f"paid membership #{purchase.id}",
                     staff_id=purchase.staff_id, at=clock.utc)
    member.tier_until = member.expires_on          # held: no month-end downgrade before it ends
    session.flush()
    purchase.receipt = {
        "id": purchase.id, "member_id": member.id, "card_no": member.card_no, "tier": tier.code,
        "tier_name": tier.name, "price_fen": purchase.price_fen, "method": method, "months": purchase.months,
        "expires_on": purchase.expires_on.isoformat(),
        "stored_value_fen": ledger.balance(session, member.id, "stored_value"),
        "text": f"{tier.name} {purchase.months} 个月 ¥{fen_to_yuan_str(purchase.price_fen)}，有效期至 {purchase.expires_on}",
        "created_at": rfc3339(purchase.created_at)}
    return purchase
