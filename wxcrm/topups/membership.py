"""Paid membership: a tier with a price (``Tier.price_fen``) and a term (``Tier.term_months``)
bought or renewed at the till (stored value or money taken at the counter) or by the member
with WeChat Pay from the H5 page. The membership runs ``term_months`` from today or from its
current end, whichever is later, and the tier is held until then (the month-end review does
not lower it); at the end the membership-expiry event's rules decide, as for every member.
An expired or cancelled membership bought again is active again, with its stored value.

The WeChat Pay order uses the top-ups' payment plumbing (``wxcrm.topups.wechat``: its
``create_pending_membership``): the same unified order, notify, order-query job and refund.
Flushes, never commits."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxcrm.benefits.events import lock_member
from wxcrm.cards import presence
from wxcrm.config import Settings
from wxcrm.errors import N_, DomainError, NotFound
from wxcrm.ledger import service as ledger
from wxcrm.members import service as members
from wxcrm.members.models import Member, Staff, Tier
from wxcrm.money import fen_to_yuan_str
from wxcrm.timeutil import Clock, add_months, rfc3339
from wxcrm.topups.models import TOPUP_METHODS, MembershipPurchase
from wxcrm.topups.service import member_for_topup

MEMBERSHIP_METHODS = TOPUP_METHODS + ("stored_value",)


def tiers_for_sale(session: Session) -> list[Tier]:
    return list(session.scalars(select(Tier).where(Tier.price_fen > 0).order_by(Tier.rank)))


def tier_for_sale(session: Session, tier_code: str) -> Tier:
    tier = session.scalar(select(Tier).where(Tier.code == tier_code))
    if tier is None:
        raise NotFound(N_("no such tier"), code="tier_not_found")
    if not tier.price_fen:
        raise DomainError(N_("this tier is not for sale"), code="tier_not_for_sale")
    return tier


def set_tier_price(session: Session, tier: Tier, *, price_fen: int | None, term_months: int) -> None:
    """The console's form: a price (None or 0: not for sale) and a term of 1 to 60 months."""
    if price_fen is not None and price_fen < 0:
        raise DomainError(N_("the price cannot be negative"), code="invalid_price", fields={"price": "negative"})
    if not 1 <= term_months <= 60:
        raise DomainError(N_("the term is 1 to 60 months"), code="invalid_term", fields={"term_months": "out of range"})
    tier.price_fen = price_fen or None
    tier.term_months = term_months
    session.flush()


def buy_membership(session: Session, *, store_code: str, member_ref: dict, tier_code: str, method: str,
                   clock: Clock, settings: Settings, staff: Staff | None = None) -> MembershipPurchase:
    """At the till: paid with money taken at the counter, or with stored value (which needs
    the member's presence, as a sale's stored-value tender does)."""
    if method not in MEMBERSHIP_METHODS:
        raise DomainError(f"method must be one of {', '.join(MEMBERSHIP_METHODS)}", code="invalid_payment_method",
                          fields={"method": "invalid"})
    store = members.store_by_code(session, store_code)
    if staff is not None and staff.works_at_a_store and staff.store_id != store.id:
        raise DomainError(f"cashier {staff.username} does not work at {store.code}", code="wrong_store", status=403)
    tier = tier_for_sale(session, tier_code)
    member = member_for_topup(session, member_ref, settings=settings, now=clock.utc)
    if member.status == "closed":
        raise DomainError(N_("this membership is closed"), code="member_closed")
    lock_member(session, member)
    if method == "stored_value":     # spending stored value needs the member at the till (wxcrm/cards)
        presence.check_spending_presence(session, settings, member=member, member_ref=member_ref, store=store,
                                         now=clock.utc)
    purchase = MembershipPurchase(member_id=member.id, tier_id=tier.id, store_id=store.id,
                                  staff_id=staff.id if staff else None, price_fen=tier.price_fen, method=method,
                                  months=tier.term_months, expires_on=clock.today, created_at=clock.utc,
                                  channel="counter", status="paid", paid_at=clock.utc)
    session.add(purchase)
    session.flush()
    if method == "stored_value":
        entry = ledger.debit_value(session, member.id, tier.price_fen, ledger.Cause(
            "membership", ref=str(purchase.id), staff_id=purchase.staff_id, at=clock.utc,
            text_zh=f"购买{tier.name} {tier.term_months} 个月", text_en=f"{tier.name_en or tier.code}: {tier.term_months} months"),
            order=settings.stored_value_spend_order)
        purchase.ledger_entry_id = entry.id
    grant_membership(session, purchase, member, tier, clock=clock)
    return purchase


def grant_membership(session: Session, purchase: MembershipPurchase, member: Member, tier: Tier, *,
                     clock: Clock) -> None:
    """The purchase is paid: the membership runs its term and the tier is held until then."""
    start = max(member.expires_on or clock.today, clock.today)
    member.expires_on = add_months(start, purchase.months)
    member.status = "active"
    purchase.status = "paid"
    purchase.paid_at = purchase.paid_at or clock.utc
    purchase.expires_on = member.expires_on
    members.set_tier(session, member, tier, source="member", reason=f"paid membership #{purchase.id}",
                     staff_id=purchase.staff_id, at=clock.utc)
    member.tier_until = member.expires_on          # held: no month-end downgrade before it ends
    session.flush()
    purchase.receipt = {
        "id": purchase.id, "member_id": member.id, "card_no": member.card_no, "tier": tier.code,
        "tier_name": tier.name, "price_fen": purchase.price_fen, "method": purchase.method, "months": purchase.months,
        "expires_on": purchase.expires_on.isoformat(),
        "stored_value_fen": ledger.balance(session, member.id, "stored_value"),
        "text": f"{tier.name} {purchase.months} 个月 ¥{fen_to_yuan_str(purchase.price_fen)}，有效期至 {purchase.expires_on}",
        "created_at": rfc3339(purchase.created_at)}
