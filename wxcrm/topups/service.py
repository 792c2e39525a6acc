"""Top-ups: money paid in at the counter or by WeChat Pay becomes stored value (principal),
and the rules' `topup` event adds its bonus (stored value, points, coupons) through
``wxcrm.benefits``. Flushes, never commits.

The principal and the bonus of one top-up share one ledger lot (``ledger.ValueLot``,
source ``topup:<id>``), so a refund of the top-up knows exactly what is left of each.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wxcrm.benefits.apply import Occasion
from wxcrm.benefits.events import lock_member, run_member_event
from wxcrm.benefits.privacy import CLOSURE_RECORD_HOOKS
from wxcrm.cards import service as cards
from wxcrm.config import Settings
from wxcrm.errors import N_, DomainError, NotFound
from wxcrm.ledger import service as ledger
from wxcrm.members import service as members
from wxcrm.members.models import Member, MembershipClosure, Staff, Store
from wxcrm.messages import outbox
from wxcrm.money import fen_to_yuan_str
from wxcrm.rules.effects import Effect
from wxcrm.timeutil import Clock, rfc3339
from wxcrm.topups.models import TOPUP_METHODS, Topup


@dataclass(frozen=True)
class Bonus:
    """What the rules gave for one top-up."""
    stored_value_fen: int
    points: int
    coupons: tuple[str, ...]
    lines: tuple[dict, ...]       # receipt lines, one per effect


def lot_source(topup: Topup) -> str:
    return f"topup:{topup.id}"


def member_for_topup(session: Session, ref: dict, *, settings: Settings | None = None,
                     now: datetime | None = None) -> Member:
    """The member a till names: by their dynamic code (refused when forged, expired,
    replaced or frozen), id or card number."""
    if ref.get("qr_token") and settings is not None and now is not None:
        return cards.member_for_code(session, settings, str(ref["qr_token"]), now=now)
    if ref.get("member_id") is not None:
        member = members.find_member(session, member_id=ref["member_id"])
    elif ref.get("card_no"):
        member = members.find_member(session, card_no=str(ref["card_no"]))
    else:
        raise DomainError(N_("member needs card_no, qr_token or member_id"), code="invalid_member_ref",
                          fields={"member": "card_no, qr_token or member_id required"})
    if member is None:
        raise NotFound(N_("no member with that card"), code="member_not_found")
    return member


def check_topup_amount(session: Session, member: Member, amount_fen: int, settings: Settings, *,
                       bonus_fen: int = 0) -> None:
    """A top-up is at least ``WXCRM_TOPUP_MIN_FEN`` and keeps the card within
    ``WXCRM_STORED_VALUE_CAP_FEN`` (China's single-purpose prepaid card rules): the cap is on
    the balance, so the top-up's bonus (``bonus_fen``) counts. The caller holds the member's
    stored-value row lock when it credits."""
    if member.status != "active":
        raise DomainError(N_("only an active member can top up"), code="member_not_active",
                          fields={"member": "not active"})
    if amount_fen < settings.topup_min_fen:
        raise DomainError(f"a top-up is at least {fen_to_yuan_str(settings.topup_min_fen)} yuan",
                          code="topup_too_small", fields={"amount_fen": "too small"},
                          params={"min": fen_to_yuan_str(settings.topup_min_fen)})
    balance = ledger.balance(session, member.id, "stored_value")
    if balance + amount_fen > settings.stored_value_cap_fen:
        room = max(settings.stored_value_cap_fen - balance, 0)
        raise DomainError(f"a card holds at most {fen_to_yuan_str(settings.stored_value_cap_fen)} yuan: "
                          f"{fen_to_yuan_str(room)} yuan more fit", code="stored_value_cap",
                          fields={"amount_fen": "above the cap"},
                          params={"cap": fen_to_yuan_str(settings.stored_value_cap_fen), "room": fen_to_yuan_str(room)})
    if bonus_fen > 0 and balance + amount_fen + bonus_fen > settings.stored_value_cap_fen:
        raise over_cap_with_bonus(settings, balance, bonus_fen)


def over_cap_with_bonus(settings: Settings, balance_before: int, bonus_fen: int) -> DomainError:
    """The refusal of a top-up whose bonus would take the card past the cap."""
    room = max(settings.stored_value_cap_fen - balance_before, 0)
    return DomainError(f"a card holds at most {fen_to_yuan_str(settings.stored_value_cap_fen)} yuan, bonus included: "
                       f"this top-up brings {fen_to_yuan_str(bonus_fen)} yuan of bonus and "
                       f"{fen_to_yuan_str(room)} yuan more fit", code="stored_value_cap_bonus",
                       fields={"amount_fen": "above the cap with its bonus"},
                       params={"cap": fen_to_yuan_str(settings.stored_value_cap_fen),
                               "bonus": fen_to_yuan_str(bonus_fen), "room": fen_to_yuan_str(room)})


def top_up_at_counter(session: Session, *, store_code: str, member_ref: dict, amount_fen: int, method: str,
                      clock: Clock, settings: Settings, staff: Staff | None = None, notify: bool = True) -> Topup:
    """A cashier takes ``amount_fen`` in ``method`` (cash, card, wechat_pay scanned at the
    till, other) and the member's card is credited, with the rules' bonus. ``notify=False``:
    history being loaded (the demo), no message queued."""
    if method not in TOPUP_METHODS:
        # Stored value never pays for stored value (nor points): the money must come in.
        raise DomainError(f"method must be one of {', '.join(TOPUP_METHODS)}", code="invalid_topup_method",
                          fields={"method": "invalid"})
    store = members.store_by_code(session, store_code)
    if not store.active:
        raise DomainError(f"store {store.code} is closed", code="store_inactive")
    if staff is not None and staff.works_at_a_store and staff.store_id != store.id:
        raise DomainError(f"cashier {staff.username} does not work at {store.code}", code="wrong_store",
                          status=403, fields={"store_code": "not your store"})
    member = member_for_topup(session, member_ref, settings=settings, now=clock.utc)
    lock_member(session, member)
    ledger.lock_account(session, member.id, "stored_value")
    check_topup_amount(session, member, amount_fen, settings)
    topup = Topup(member_id=member.id, store_id=store.id, staff_id=staff.id if staff else None, channel="counter",
                  method=method, status="pending", amount_fen=amount_fen, business_date=clock.today,
                  created_at=clock.utc)
    session.add(topup)
    session.flush()
    balance_before = ledger.balance(session, member.id, "stored_value")
    credit_paid_topup(session, topup, member, clock=clock, settings=settings, notify=notify)
    if topup.receipt["stored_value_fen"] > settings.stored_value_cap_fen:
        # The bonus the rules gave takes the card past the cap: the top-up is refused (the
        # caller rolls back every write, the bonus's too) before any money is taken.
        raise over_cap_with_bonus(settings, balance_before, topup.bonus_fen)
    return topup


def credit_paid_topup(session: Session, topup: Topup, member: Member, *, clock: Clock, settings: Settings,
                      notify: bool = True, cut_bonus_at_cap: bool = False) -> Bonus:
    """The money is in: credit the principal, run the `topup` rules, write the receipt and
    queue the member's notice. Called once per top-up (the caller holds its row lock).
    ``cut_bonus_at_cap``: a bonus that would take the card past the cap is cut to what fits
    (a WeChat payment, whose money is in before the bonus is known; the order was checked
    with the bonus when it was made); the counter refuses such a top-up instead."""
    store = session.get(Store, topup.store_id) if topup.store_id else None
    first = not session.scalar(select(func.count(Topup.id)).where(
        Topup.member_id == member.id, Topup.id != topup.id, Topup.status.in_(("paid", "refunding", "refunded"))))
    ledger.credit_value(session, member.id, topup.amount_fen, ledger.Cause(
        "topup", ref=str(topup.id), staff_id=topup.staff_id, at=clock.utc,
        text_zh=f"充值 {fen_to_yuan_str(topup.amount_fen)} 元", text_en=f"Top-up {fen_to_yuan_str(topup.amount_fen)} yuan"),
        store_id=topup.store_id)
    effects = run_member_event(session, member, "topup", settings=settings,
                               occasion=Occasion("topup", ref=str(topup.id), clock=clock, staff_id=topup.staff_id),
                               store_code=store.code if store else None, store_kind=store.kind if store else None,
                               topup_amount_fen=topup.amount_fen, payment_method=topup.method, first_topup=first)
    bonus = bonus_of(effects)
    if cut_bonus_at_cap and bonus.stored_value_fen:
        bonus = _cut_bonus_at_cap(session, topup, member, bonus, clock=clock, settings=settings)
    topup.status = "paid"
    topup.paid_at = clock.utc
    topup.bonus_fen = bonus.stored_value_fen
    topup.bonus_points = bonus.points
    session.flush()
    topup.receipt = topup_receipt(session, topup, member, bonus)
    if notify and (member.openid or member.phone):
        balance = topup.receipt["stored_value_fen"]
        what = f"充值 {fen_to_yuan_str(topup.amount_fen)} 元" + (
            f"，赠送 {fen_to_yuan_str(bonus.stored_value_fen)} 元" if bonus.stored_value_fen else "")
        outbox.enqueue(session, settings, purpose="topup_done", member=member,
                       text=f"{what}，储值余额 {fen_to_yuan_str(balance)} 元",
                       fields={"store": store.name if store else settings.brand_name,
                               "amount": fen_to_yuan_str(topup.amount_fen + bonus.stored_value_fen),
                               "balance": fen_to_yuan_str(balance),
                               "time": clock.local.strftime("%Y-%m-%d %H:%M")},
                       dedup_key=f"topup:{topup.id}:done", now=clock.utc,
                       read_back=False)     # once per top-up (above): the key is new, no read before or after
    return bonus


def _cut_bonus_at_cap(session: Session, topup: Topup, member: Member, bonus: Bonus, *, clock: Clock,
                      settings: Settings) -> Bonus:
    over = ledger.balance(session, member.id, "stored_value") - settings.stored_value_cap_fen
    cut = min(max(over, 0), bonus.stored_value_fen)
    if not cut:
        return bonus
    ledger.withdraw_from_lot(session, member.id, lot_source(topup), principal=0, bonus=cut, cause=ledger.Cause(
        "topup", ref=str(topup.id), staff_id=topup.staff_id, at=clock.utc,
        text_zh=f"储值上限 {fen_to_yuan_str(settings.stored_value_cap_fen)} 元：赠送减少 {fen_to_yuan_str(cut)} 元",
        text_en=f"Stored value cap {fen_to_yuan_str(settings.stored_value_cap_fen)} yuan: bonus cut by "
                f"{fen_to_yuan_str(cut)} yuan"))
    line = {"kind": "bonus_cut", "text": f"储值上限：赠送减少 {fen_to_yuan_str(cut)} 元",
            "text_en": f"Stored value cap: bonus cut by {fen_to_yuan_str(cut)} yuan", "points": 0,
            "amount_fen": -cut, "rule": "", "rule_id": None, "rule_version": None}
    return replace(bonus, stored_value_fen=bonus.stored_value_fen - cut, lines=bonus.lines + (line,))


def bonus_of(effects: list[Effect]) -> Bonus:
    fen = sum(e.amount_fen for e in effects if e.kind == "stored_value_bonus")
    points = sum(e.points for e in effects if e.kind == "points")
    coupons = tuple(str(e.params.get("template", "")) for e in effects if e.kind == "coupon")
    lines = tuple({"kind": e.kind, "text": e.text_zh, "text_en": e.text_en, "points": e.points,
                   "amount_fen": e.amount_fen, "rule": e.rule_name, "rule_id": e.rule_id,
                   "rule_version": e.rule_version} for e in effects)
    return Bonus(fen, points, coupons, lines)


def topup_receipt(session: Session, topup: Topup, member: Member, bonus: Bonus | None = None) -> dict:
    """The answer of POST /topups and the slip the till prints."""
    split = ledger.value_split(session, member.id)
    store = session.get(Store, topup.store_id) if topup.store_id else None
    if bonus is None:
        lines = tuple(topup.receipt.get("receipt_lines", ())) if topup.receipt else ()
        bonus_lines = [line for line in lines if line.get("kind") not in ("topup", "balance")]
    else:
        bonus_lines = list(bonus.lines)
    lines = [{"kind": "topup", "text": "充值", "text_en": "Top-up", "amount_fen": topup.amount_fen}]
    lines += bonus_lines
    lines.append({"kind": "balance", "text": "储值余额", "text_en": "Stored value balance",
                  "amount_fen": split.total})
    return {
        "id": topup.id, "status": topup.status, "channel": topup.channel, "method": topup.method,
        "store_code": store.code if store else None, "store_name": store.name if store else None,
        "member_id": member.id, "card_no": member.card_no,
        "amount_fen": topup.amount_fen, "principal_fen": topup.amount_fen, "bonus_fen": topup.bonus_fen,
        "bonus_points": topup.bonus_points,
        "coupons": list(bonus.coupons) if bonus else list(topup.receipt.get("coupons", [])),
        "stored_value_fen": split.total, "stored_value_principal_fen": split.principal,
        "stored_value_bonus_fen": split.bonus, "points_balance": ledger.balance(session, member.id, "points"),
        "business_date": topup.business_date.isoformat(), "created_at": rfc3339(topup.created_at),
        "receipt_lines": lines,
    }


def preview_bonus(session: Session, member: Member, amounts: tuple[int, ...], *, settings: Settings,
                  clock: Clock) -> dict[int, int]:
    """What the `topup` rules would add (stored value, fen) to each amount for this member,
    today, as a WeChat top-up (for the H5 page's "充 500 送 50"). Decides, applies nothing."""
    from wxcrm.rules.decide import decide_event
    store = session.get(Store, member.home_store_id) if member.home_store_id else None
    first = not session.scalar(select(func.count(Topup.id)).where(
        Topup.member_id == member.id, Topup.status.in_(("paid", "refunded"))))
    out = {}
    for amount in amounts:
        decision = decide_event(session, member, "topup", local_time=clock.local, settings=settings,
                                points_balance=0, store_code=store.code if store else None,
                                store_kind=store.kind if store else None, topup_amount_fen=amount,
                                payment_method="wechat_pay", first_topup=first)
        out[amount] = sum(e.amount_fen for e in decision.effects if e.kind == "stored_value_bonus")
    return out


def get_topup(session: Session, topup_id: int, *, lock: bool = False) -> Topup:
    q = select(Topup).where(Topup.id == topup_id)
    topup = session.scalar(q.with_for_update() if lock else q)
    if topup is None:
        raise NotFound(f"no top-up {topup_id}", code="topup_not_found")
    return topup


# ---------------------------------------------------------------- refund of a top-up

def refund_topup(session: Session, *, topup_id: int, clock: Clock, settings: Settings,
                 staff: Staff | None = None) -> Topup:
    """Give a top-up's money back (README "Stored value: refunding a top-up").

    What is left of its principal goes back to the member, less the bonus already spent
    (the bonus was given for keeping the money here) and less the bonus points already
    spent, at the till's point value; what is left of its bonus is taken back, and so are
    its bonus points. Nothing goes below zero: what cannot be charged is forfeited by the
    member, never owed."""
    if staff is not None and staff.role == "cashier":
        raise DomainError(N_("refunds need a manager"), code="manager_required", status=403)
    topup = get_topup(session, topup_id, lock=True)
    if staff is not None and staff.works_at_a_store and staff.store_id != topup.store_id:
        raise DomainError("a manager refunds only top-ups of their own store", code="wrong_store", status=403)
    if topup.status in ("refunded", "refunding"):
        raise DomainError(N_("this top-up is already refunded"), code="already_refunded")
    if topup.status != "paid":
        raise DomainError(N_("this top-up was never paid"), code="topup_not_paid")
    member = session.get(Member, topup.member_id)
    lock_member(session, member)
    ledger.lock_account(session, member.id, "stored_value")
    lot = ledger.lot_for(session, member.id, lot_source(topup))
    session.refresh(lot)
    principal_left, bonus_left = lot.principal_left, lot.bonus_left
    bonus_spent = lot.bonus - bonus_left
    cause = ledger.Cause("refund", ref=f"topup:{topup.id}", staff_id=staff.id if staff else None, at=clock.utc,
                         text_zh=f"充值退款（充值单 {topup.id}）", text_en=f"Top-up #{topup.id} refunded")
    ledger.withdraw_from_lot(session, member.id, lot_source(topup), principal=principal_left,
                             bonus=bonus_left, cause=cause)
    points_short = 0
    if topup.bonus_points:
        _, points_short = ledger.claw_back_points(session, member.id, topup.bonus_points, cause)
    charge = bonus_spent + points_short * settings.point_value_fen
    money_back = max(principal_left - charge, 0)
    # Paid by WeChat Pay: the money goes back through its refund API, after this commits
    # (``wechat.send_refund``; never under the ledger's locks).
    topup.status = "refunding" if topup.channel == "wechat" and money_back else "refunded"
    topup.refunded_at = clock.utc
    topup.refunded_principal_fen = money_back
    topup.refunded_bonus_fen = bonus_left
    topup.refund_points_back = topup.bonus_points - points_short
    session.flush()
    topup.receipt = {**topup.receipt, "status": topup.status, "refund": {
        "refund_fen": money_back, "principal_left_fen": principal_left, "principal_kept_fen": principal_left - money_back,
        "bonus_taken_back_fen": bonus_left, "bonus_spent_fen": bonus_spent,
        "points_taken_back": topup.refund_points_back, "points_shortfall": points_short,
        "stored_value_fen": ledger.balance(session, member.id, "stored_value"), "refunded_at": rfc3339(clock.utc)}}
    return topup


# ---------------------------------------------------------------- closing a membership

def empty_card_on_closure(session: Session, member: Member, closure: MembershipClosure, clock: Clock) -> None:
    """A closed membership's stored value leaves the card, one entry per lot (so the
    settlement sees whose money went back); the bonus is forfeited. The unspent principal of
    a top-up paid by WeChat Pay goes back to the member's WeChat Pay (the top-up becomes
    ``refunding`` and the ``topup-order-query`` job sends WeChat Pay's refund); the rest was
    paid in at a counter, and finance pays it out and marks the closure's refund paid
    (console › Stored value)."""
    ledger.lock_account(session, member.id, "stored_value")
    wechat_fen = 0
    for lot in ledger.open_value_lots(session, member.id):
        principal, bonus = lot.principal_left, lot.bonus_left
        topup = None
        if principal and lot.source.startswith("topup:") and lot.source[6:].isdigit():
            topup = session.scalar(select(Topup).where(Topup.id == int(lot.source[6:]), Topup.channel == "wechat",
                                                       Topup.status == "paid").with_for_update())
        text_zh = "会员注销：储值本金原路退回微信支付，赠送金额作废" if topup else "会员注销：储值本金退还，赠送金额作废"
        ledger.withdraw_from_lot(session, member.id, lot_id=lot.id, principal=principal, bonus=bonus,
                                 cause=ledger.Cause("closure", ref=str(member.id), at=clock.utc, text_zh=text_zh,
                                                    text_en="Membership closed: principal refunded, bonus forfeited"))
        if topup is not None:
            topup.status, topup.refunded_at = "refunding", clock.utc
            topup.refunded_principal_fen, topup.refunded_bonus_fen = principal, bonus
            topup.receipt = {**topup.receipt, "status": "refunding", "refund": {
                "reason": "membership_closed", "refund_fen": principal, "principal_left_fen": principal,
                "principal_kept_fen": 0, "bonus_taken_back_fen": bonus, "bonus_spent_fen": 0,
                "points_taken_back": 0, "points_shortfall": 0, "stored_value_fen": 0,
                "refunded_at": rfc3339(clock.utc)}}
            wechat_fen += principal
    closure.refund_wechat_fen = wechat_fen
    if closure.stored_value_fen and closure.stored_value_fen == wechat_fen:
        closure.refund_status = "wechat"          # all of it goes back through WeChat Pay, nothing to pay out
    session.flush()


def closure_refunds(session: Session, *, limit: int = 100) -> list[MembershipClosure]:
    """Closed memberships that had stored value, the ones still to pay out first."""
    return list(session.scalars(select(MembershipClosure).where(MembershipClosure.stored_value_fen > 0)
                                .order_by((MembershipClosure.refund_status == "requested").desc(),
                                          MembershipClosure.id.desc()).limit(limit)))


def mark_closure_refund_paid(session: Session, closure_id: int, *, staff: Staff, clock: Clock) -> MembershipClosure:
    """Finance paid the counter part of a closed membership's stored value out."""
    closure = session.scalar(select(MembershipClosure).where(MembershipClosure.id == closure_id).with_for_update())
    if closure is None:
        raise NotFound(N_("no such closure"), code="closure_not_found")
    if closure.refund_status != "requested":
        raise DomainError(N_("this refund is not waiting to be paid"), code="closure_refund_not_requested")
    closure.refund_status, closure.refund_paid_at, closure.refund_paid_by = "paid", clock.utc, staff.id
    session.flush()
    return closure


CLOSURE_RECORD_HOOKS.append(empty_card_on_closure)



def topup_events(session: Session, *, since: date) -> list:
    """Paid top-ups since ``since`` as the backtest replays them (``rules.backtest.TopupEvent``)."""
    from wxcrm.rules.backtest import TopupEvent
    stores = {s.id: s for s in session.scalars(select(Store))}
    seen: set[int] = set(session.scalars(select(Topup.member_id).where(
        Topup.business_date < since, Topup.status.in_(("paid", "refunded")))))
    out = []
    for t in session.scalars(select(Topup).where(Topup.business_date >= since, Topup.status.in_(("paid", "refunded")))
                             .order_by(Topup.id)):
        store = stores.get(t.store_id)
        out.append(TopupEvent(member_id=t.member_id, at=t.paid_at or t.created_at, amount_fen=t.amount_fen,
                              store_code=store.code if store else None, store_kind=store.kind if store else None,
                              payment_method=t.method, first=t.member_id not in seen))
        seen.add(t.member_id)
    return out
