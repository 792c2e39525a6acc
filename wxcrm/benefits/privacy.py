"""A member's data is the member's (ARCHITECTURE invariant 11, China's PIPL): what we hold
about them, as one JSON download, and closing the membership.

Closing keeps the accounts (ledgers, sales) and removes the person: the profile is
anonymised, their WeChat ids are dropped from our message records, points are forfeited by a
ledger entry (so the audit stays clean), coupons are voided by the hooks the coupons package
adds to CLOSURE_HOOKS, and unspent stored value is recorded as a refund request (the
stored-value flow pays the principal back; see README "Privacy"). Flushes, never commits.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.coupons import service as coupons
from wxcrm.coupons import wallet_card
from wxcrm.ledger import service as ledger
from wxcrm.ledger.models import LedgerAccount, LedgerEntry
from wxcrm.members.models import ConsentRecord, Member, MembershipClosure
from wxcrm.members.service import record_consent
from wxcrm.messages.models import Contact, OutboxMessage
from wxcrm.sales.models import Transaction, TransactionItem
from wxcrm.timeutil import Clock
from wxcrm.wechat.adapter.models import InboundEvent

# Other packages' part in closing (e.g. the coupons package voids the member's coupons):
# each is called as hook(session, member, clock) before the profile is anonymised.
CLOSURE_HOOKS: list[Callable[[Session, Member, Clock], None]] = [coupons.void_for_closure]
# Called with the closure record once it exists: the stored-value flow empties the card and
# says how the unspent principal goes back (``MembershipClosure.refund_wechat_fen``).
CLOSURE_RECORD_HOOKS: list[Callable[[Session, Member, MembershipClosure, Clock], None]] = []


def member_data(session: Session, member: Member) -> dict:
    """Everything we hold about this member: profile, consents, card, ledgers, transactions."""
    accounts = {a.kind: a for a in session.scalars(select(LedgerAccount).where(LedgerAccount.member_id == member.id))}
    ledgers = {}
    for kind, account in accounts.items():
        entries = session.scalars(select(LedgerEntry).where(LedgerEntry.account_id == account.id)
                                  .order_by(LedgerEntry.id))
        ledgers[kind] = {"balance": account.balance, "entries": [
            {"id": e.id, "amount": e.amount, "balance_after": e.balance_after, "cause": e.cause,
             "transaction_id": e.transaction_id, "text_zh": e.text_zh, "text_en": e.text_en,
             "created_at": e.created_at.isoformat() + "Z"} for e in entries]}
    txns = list(session.scalars(select(Transaction).where(Transaction.member_id == member.id).order_by(Transaction.id)))
    items: dict[int, list] = {}
    if txns:
        for it in session.scalars(select(TransactionItem).where(
                TransactionItem.transaction_id.in_([t.id for t in txns])).order_by(TransactionItem.line_no)):
            items.setdefault(it.transaction_id, []).append(
                {"line_no": it.line_no, "sku": it.sku, "category": it.category, "qty": it.qty,
                 "unit_price_fen": it.unit_price_fen, "amount_fen": it.amount_fen})
    consents = session.scalars(select(ConsentRecord).where(ConsentRecord.member_id == member.id)
                               .order_by(ConsentRecord.id))
    return {
        "profile": {"card_no": member.card_no, "phone": member.phone, "openid": member.openid,
                    "unionid": member.unionid, "name": member.name, "gender": member.gender,
                    "birthday": member.birthday.isoformat() if member.birthday else None,
                    "district": member.district, "occupation": member.occupation, "education": member.education,
                    "income_band": member.income_band, "home_store": member.home_store.code if member.home_store else None,
                    "tier": member.tier.code if member.tier else None, "status": member.status,
                    "joined_on": member.joined_on.isoformat(),
                    "expires_on": member.expires_on.isoformat() if member.expires_on else None,
                    "followed": member.followed, "marketing_consent": member.marketing_consent,
                    "privacy_notice_version": member.privacy_version},
        "consents": [{"kind": c.kind, "version": c.version, "granted": c.granted, "channel": c.channel,
                      "at": c.at.isoformat() + "Z"} for c in consents],
        "cards": [{"card_no": member.card_no, "status": member.status}],
        "coupons": coupons.coupons_for_export(session, member.id),
        "ledgers": ledgers,
        "transactions": [{"id": t.id, "kind": t.kind, "original_id": t.original_id, "business_date": t.business_date.isoformat(),
                          "payment_method": t.payment_method, "total_fen": t.total_fen, "discount_fen": t.discount_fen,
                          "payable_fen": t.payable_fen, "points_earned": t.points_earned,
                          "points_redeemed": t.points_redeemed, "items": items.get(t.id, [])} for t in txns],
    }


def close_membership(session: Session, member: Member, *, clock: Clock, settings: Settings) -> MembershipClosure:
    """Close the membership at the member's request. Returns the closure record."""
    openid = member.openid
    # What the member is owed: the unspent principal (money paid in); the bonus was a reward
    # and ends with the membership (the stored-value record hook takes both off the card).
    stored = ledger.value_split(session, member.id).principal
    for hook in CLOSURE_HOOKS:
        hook(session, member, clock)
    wallet_card.close_member(session, settings, member.id, now=clock.utc)   # withdrawn in the WeChat wallet too
    points = ledger.reset_points(session, member.id, ledger.Cause(
        "closure", ref=str(member.id), at=clock.utc, text_zh="会员注销，积分作废",
        text_en="Membership closed: points forfeited"))
    closure = MembershipClosure(member_id=member.id, closed_at=clock.utc, points_forfeited=points,
                                stored_value_fen=stored, refund_status="requested" if stored else "none")
    session.add(closure)
    session.flush()
    for record_hook in CLOSURE_RECORD_HOOKS:
        record_hook(session, member, closure, clock)
    record_consent(session, member, privacy_version=None, marketing=False, channel="h5", at=clock.utc)
    session.add(ConsentRecord(member_id=member.id, kind="privacy", version=member.privacy_version or "",
                              granted=False, channel="h5", at=clock.utc))
    _anonymise(member, clock)
    _forget_wechat_ids(session, member.id, openid)
    session.flush()
    return closure


def _anonymise(member: Member, clock: Clock) -> None:
    member.phone = member.openid = member.unionid = None
    member.name = member.district = member.occupation = member.education = member.income_band = ""
    member.gender, member.birthday = "unknown", None
    member.followed = member.marketing_consent = False
    member.status, member.closed_at = "closed", clock.utc


def _forget_wechat_ids(session: Session, member_id: int, openid: str | None) -> None:
    """Our message records keep no trace of who the member was: messages still waiting are
    dropped, sent ones lose their address and text, the callback log forgets the openid."""
    session.execute(delete(OutboxMessage).where(OutboxMessage.member_id == member_id,
                                                OutboxMessage.status.in_(("pending", "parked"))))
    session.execute(update(OutboxMessage).where(OutboxMessage.member_id == member_id)
                    .values(openid=None, phone=None, payload={}, reason="", last_error=""))
    if openid:
        session.execute(delete(Contact).where(Contact.openid == openid))
        for event in session.scalars(select(InboundEvent).where(InboundEvent.openid == openid)):
            event.openid, event.reply = "", ""
            if event.dedup_key.startswith("evt:"):
                event.dedup_key = f"closed:{event.id}"
