"""Crediting a claimed purchase (scan-to-earn): the member who scanned the receipt's QR gets
that purchase's points and the coupons its rules give (channel ``scan``), by the rules at the
purchase's moment, on what is left of it after any refund. The purchase then belongs to the member (a later refund takes the points back)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxcrm.benefits.apply import Occasion, apply_member_effect
from wxcrm.benefits.events import lock_member
from wxcrm.cards import claims, wallet
from wxcrm.checkout.service import refunded_net_fen
from wxcrm.config import Settings
from wxcrm.errors import N_
from wxcrm.ledger import service as ledger
from wxcrm.members.models import Member, Store
from wxcrm.rules.context import BasketLine
from wxcrm.rules.decide import Basket, decide_purchase
from wxcrm.rules.live import rule_set_at
from wxcrm.rules.usage import membership_anchor, record_usage
from wxcrm.sales.models import Transaction, TransactionBenefit, TransactionItem
from wxcrm.timeutil import Clock


def credit_claim(session: Session, settings: Settings, *, token: str, member: Member, now: Clock) -> int:
    """Credit the purchase behind ``token`` to ``member``, once: its points, and the coupons the
    purchase rules' ``issue_coupon`` actions give (channel ``scan``). Returns the points given."""
    if member.status != "active":
        raise claims.ClaimRefused(N_("only an active member can claim points"), code="claim_member_inactive")
    lock_member(session, member)
    # Locks in the refund's order (the purchase, its lines, then the claim), and locking
    # reads: a refund that committed a moment ago is seen, and the two never deadlock.
    found = claims.find_claim(session, token)
    txn = session.scalar(select(Transaction).where(Transaction.id == found.transaction_id).with_for_update()
                         .execution_options(populate_existing=True))
    items = list(session.scalars(select(TransactionItem).where(TransactionItem.transaction_id == txn.id)
                                 .order_by(TransactionItem.line_no).with_for_update()
                                 .execution_options(populate_existing=True)))
    claim = claims.lock_open_claim(session, token, member_id=member.id, now=now.utc)
    if txn.member_id is not None:
        raise claims.ClaimRefused(N_("the points of this receipt were already claimed"), code="claim_used")
    lines = tuple(BasketLine(line_no=it.line_no, sku=it.sku, category=it.category, qty=it.qty - it.refunded_qty,
                             unit_price_fen=it.unit_price_fen) for it in items if it.qty > it.refunded_qty)
    if not lines:
        raise claims.ClaimRefused(N_("this purchase was refunded: it earns no points"), code="claim_refunded")
    store = session.get(Store, txn.store_id)
    at = Clock.at(txn.created_at, settings.tz)      # the sale's moment: the rules see it as then
    basket = Basket(store_code=store.code, store_kind=store.kind, payment_method=txn.payment_method, lines=lines,
                    points_payment_fen=0)
    then = rule_set_at(session, txn.created_at, point_value_fen=settings.point_value_fen)
    decision = decide_purchase(session, member, basket, local_time=at.local, settings=settings,
                               points_balance=ledger.available_points(session, member.id, now.today), rule_set=then)
    occasion = Occasion("purchase", ref=str(txn.id), clock=now, transaction_id=txn.id, coupon_channel="scan")
    earned = 0
    for effect in decision.effects:
        if effect.kind not in ("points", "coupon"):
            continue        # discounts cannot be given after the sale; a claim gives its points and coupons
        session.add(TransactionBenefit(transaction_id=txn.id, kind=effect.kind, rule_id=effect.rule_id,
                                       rule_version=effect.rule_version, rule_name=effect.rule_name,
                                       points=effect.points, amount_fen=effect.amount_fen,
                                       text_zh=effect.text_zh[:255], text_en=effect.text_en[:255]))
        earned += apply_member_effect(session, member, effect, occasion, settings)
    if decision.compiled is not None:
        record_usage(session, member.id, decision.result, decision.compiled, txn.business_date,
                     membership_anchor(member))
    txn.member_id, txn.points_earned = member.id, earned
    left = sum(it.amount_fen - it.discount_fen for it in items) - refunded_net_fen(items)
    claims.mark_claimed(session, claim, member_id=member.id, points=earned, now=now.utc, net_fen=left)
    if settings.wechat_card_enabled and earned:
        wallet.queue_sync(session, settings, member, now=now.utc)     # the wallet card shows the new points
    return earned
