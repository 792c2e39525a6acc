"""One purchase or refund, from basket to receipt. Reads top to bottom like the receipt.

Flushes, never commits: the caller (API or till page) owns the transaction and the
idempotency key (see wxcrm.idempotency.run_once).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import JSON, Date, Integer, bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from wxcrm.benefits import tiers
from wxcrm.benefits.apply import Occasion, apply_member_effect
from wxcrm.benefits.events import reward_referral
from wxcrm.benefits.notices import notify_points_changed
from wxcrm.cards import claims, presence, wallet
from wxcrm.cards import service as cards
from wxcrm.config import Settings
from wxcrm.coupons import service as coupons
from wxcrm.coupons import wallet_card
from wxcrm.errors import N_, DomainError, NotFound
from wxcrm.ledger import service as ledger
from wxcrm.ledger.models import LedgerAccount, LedgerEntry
from wxcrm.members import service as members
from wxcrm.members.models import Member, Staff, Store
from wxcrm.money import cumulative_share, fen_to_yuan_str, percent_of, pro_rata_down
from wxcrm.rules.context import BasketLine
from wxcrm.rules.decide import NO_DECISION, Basket, decide_purchase
from wxcrm.rules.live import counted_rules, live_rule_set
from wxcrm.rules.member_facts import KnownFacts, fact_windows, referral_count_column
from wxcrm.rules.usage import (
    counter_columns,
    counter_params,
    limit_counters,
    membership_anchor,
    record_usage,
    release_usage,
    usage_from_counters,
)
from wxcrm.sales.models import Transaction, TransactionBenefit, TransactionItem
from wxcrm.sales.queries import (
    benefits_by_rule,
    history_columns,
    history_from_row,
    rolling_year_spend_column,
    rolling_year_start,
)
from wxcrm.sqlutil import add_as_loaded, packed, run, run_scalar, unpacker
from wxcrm.sqlutil import connection as sql_connection
from wxcrm.timeutil import Clock, rfc3339, to_utc_naive
from wxcrm.topups import tenders

MAX_LINES = 500
MAX_QTY = 100_000
MAX_UNIT_PRICE_FEN = 100_000_000  # one million yuan
MAX_SALE_FEN = 10_000_000_000     # one hundred million yuan: no till sale is larger, whoever posts it
PAYMENT_METHODS = ("cash", "card", "wechat_pay", "alipay", "stored_value", "other")


# ---------------------------------------------------------------- purchase

OFFLINE_CLOCK_SKEW = timedelta(minutes=5)   # a till's clock may run this far ahead of ours


def sale_clock(settings: Settings, *, occurred_at: datetime | None, now: Clock) -> Clock:
    """The moment a sale happened: now, or an offline till's ``occurred_at`` (an aware
    moment, RFC 3339 with its offset). The rules, business date, points expiry and limits
    all use it, in the merchant's time zone. Refused when it lies in the future (beyond
    a few minutes of clock skew) or more than ``WXCRM_OFFLINE_MAX_AGE_DAYS`` back."""
    if occurred_at is None:
        return now
    if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
        raise DomainError(N_("occurred_at needs its offset, e.g. 2026-11-23T14:05:00+08:00"),
                          code="occurred_at_needs_offset", fields={"occurred_at": "no offset"})
    moment = to_utc_naive(occurred_at)
    if moment > now.utc + OFFLINE_CLOCK_SKEW:
        raise DomainError(N_("occurred_at is in the future"), code="occurred_at_in_future",
                          fields={"occurred_at": "in the future"})
    if moment < now.utc - timedelta(days=settings.offline_max_age_days):
        raise DomainError(f"occurred_at is more than {settings.offline_max_age_days} days ago",
                          code="occurred_at_too_old", fields={"occurred_at": "too old"},
                          params={"days": settings.offline_max_age_days})
    return Clock.local_moment(occurred_at.astimezone(settings.tz))


def ring_up_purchase(session: Session, *, store_code: str, items: list[dict], clock: Clock, settings: Settings,
                     member_ref: dict | None = None, points_to_use: int = 0, payment_method: str = "cash",
                     staff: Staff | None = None, notify: bool = True,
                     received_at: datetime | None = None, coupon_codes: list[str] | None = None,
                     payments: list[dict] | None = None) -> Transaction:
    """Ring up one purchase at ``clock`` (``sale_clock``: now, or when an offline till
    rang it up; ``received_at`` is when wxcrm got it, default the same). ``notify=False``
    queues no WeChat notice (history being loaded, e.g. the demo's past purchases).

    Kept close to the cost of one locked ledger write (issue 11): the store, staff, tiers
    and rules come from the worker's caches, the member is read and locked in one
    statement and their facts in one more, lines and benefits go in one insert each, and
    the receipt and the notice are built from what is in memory."""
    store = _open_store(session, store_code, staff)
    arrived = received_at or clock.utc
    member = _member_for_till(session, member_ref, settings, arrived, lock=True) if member_ref else None
    lines = _price_basket(items)
    total = sum(line.amount_fen for line in lines)
    _check_sale_size(total, staff, settings)
    if payment_method not in PAYMENT_METHODS:
        raise DomainError(f"payment_method must be one of {', '.join(PAYMENT_METHODS)}",
                          code="invalid_payment_method", fields={"payment_method": "invalid"})
    plan = tenders.plan_tenders(payments, payment_method, PAYMENT_METHODS)   # payments: [...] or the one method

    member_active = member is not None and member.status == "active"
    check_member_may_spend(member, points_to_use=points_to_use, stored_value=plan.uses_stored_value)
    # The rules see the part paid with points (it earns nothing) and give discounts
    # first, then points on what is left to pay.
    points_value = points_to_use * settings.point_value_fen
    decision = NO_DECISION
    facts = _MemberSnapshot.read(session, member, clock.today, settings) if member is not None else None
    tier_before = member.tier_id if member is not None else None
    if member is not None and (points_to_use or plan.uses_stored_value):
        # spending needs the member at the till (wxcrm/cards); an expired or cancelled
        # membership still spends its stored value (check_member_may_spend)
        presence.check_spending_presence(session, settings, member=member, member_ref=member_ref, store=store,
                                         now=arrived)
    if member_active:
        # The member's row is locked (one purchase per member at a time: limit counters stay true).
        basket = Basket(store_code=store.code, store_kind=store.kind, payment_method=plan.method,
                        lines=tuple(lines), payment_methods=plan.methods,
                        points_payment_fen=points_value + tenders.non_earning_fen(plan, total, settings))
        decision = decide_purchase(session, member, basket, local_time=clock.local, settings=settings,
                                   points_balance=facts.available, known=facts.known)
    line_discounts = _line_discounts(decision.effects)
    # Coupons come off after the rules' discounts, before points pay (README, "Coupons at the till").
    picked = coupons.choose_at_till(session, member, codes=coupon_codes or [], lines=lines,
                                    line_discounts=line_discounts, store=store, clock=clock,
                                    paying_with_points=points_to_use > 0)
    for line_no, fen in picked.line_discounts().items():
        line_discounts[line_no] = line_discounts.get(line_no, 0) + fen
    discount = sum(line_discounts.values())
    _check_points_payment(points_to_use, total - discount, settings)
    tenders.check_tenders(plan, total - discount - points_value)

    txn = _insert_transaction(session, kind="purchase", store_id=store.id, member_id=member.id if member else None,
                              staff_id=staff.id if staff else None, payment_method=plan.method, total_fen=total,
                              discount_fen=discount, points_redeemed_fen=points_value, points_redeemed=points_to_use,
                              payable_fen=total - discount - points_value, business_date=clock.today,
                              created_at=clock.utc, recorded_at=received_at or clock.utc)
    conn = sql_connection(session)
    run(conn, _INSERT_ITEMS, [
        {"transaction_id": txn.id, "line_no": line.line_no, "sku": line.sku, "category": line.category,
         "qty": line.qty, "unit_price_fen": line.unit_price_fen, "amount_fen": line.amount_fen,
         "discount_fen": line_discounts.get(line.line_no, 0), "refunded_qty": 0} for line in lines])
    benefits = [{"transaction_id": txn.id, "kind": effect.kind, "rule_id": effect.rule_id,
                 "rule_version": effect.rule_version, "rule_name": effect.rule_name, "points": effect.points,
                 "amount_fen": effect.amount_fen, "text_zh": effect.text_zh[:255], "text_en": effect.text_en[:255]}
                for effect in decision.effects]
    if benefits:
        run(conn, _INSERT_BENEFITS, benefits)
    benefits += coupons.redeem_at_till(session, picked, txn, clock)
    if picked.applied:      # coupons in a WeChat card wallet are consumed there later (outbox)
        wallet_card.queue_consumes(session, settings, [a.offer.coupon_id for a in picked.applied], now=clock.utc)

    if points_to_use:
        ledger.spend_points(session, member.id, points_to_use, ledger.Cause(
            "redeem", ref=str(txn.id), transaction_id=txn.id, staff_id=txn.staff_id, at=clock.utc,
            text_zh=f"积分抵扣 {fen_to_yuan_str(points_value)} 元", text_en=f"Points paid {fen_to_yuan_str(points_value)} yuan"),
            today=clock.today)
    if plan.split or plan.uses_stored_value:
        tenders.take_payments(session, txn, plan, clock=clock, settings=settings)

    occasion = Occasion("purchase", ref=str(txn.id), clock=clock, transaction_id=txn.id, staff_id=txn.staff_id)
    earned = 0
    for effect in decision.effects:
        if effect.kind != "discount":
            earned += apply_member_effect(session, member, effect, occasion, settings)
    if decision.compiled is not None:
        record_usage(session, member.id, decision.result, decision.compiled, clock.today,
                     membership_anchor(member))
    if member_active and member.referrer_id is not None:
        reward_referral(session, member, clock=clock, settings=settings, ref=f"purchase:{txn.id}",
                        basket=basket, transaction_id=txn.id,
                        purchases_before=facts.known.history.purchase_count)
    if member_active:
        tiers.after_purchase(session, member, today=clock.today, at=txn.recorded_at, transaction_id=txn.id,
                             spend_fen=facts.year_spend_fen + txn.payable_fen)
    set_committed_value(txn, "points_earned", earned)    # written with the receipt (_finish_transaction)
    receipt = _purchase_receipt_in_memory(session, txn, store, member, lines, benefits, facts, clock,
                                          tier_before) | coupons.receipt_fields(picked)
    if plan.split or plan.uses_stored_value:
        receipt = tenders.with_payment_lines(session, txn, receipt, member=member, notify=notify,
                                             clock=clock, settings=settings, plan=plan)
    if member is None:      # scan-to-earn: the receipt carries a QR its customer may claim
        claim = claims.offer_claim(session, settings, transaction_id=txn.id, store_id=store.id, now=arrived)
        receipt = {**receipt, "claim_token": claim.token, "claim_qr_url": claims.claim_url(settings, claim.token)}
    _finish_transaction(session, txn, points_earned=earned, receipt=receipt)
    if notify and member is not None and (earned or points_to_use) and member.openid:
        notify_points_changed(session, settings, member, store_name=store.name,
                              change=txn.points_earned - txn.points_redeemed,
                              balance=txn.receipt["points_balance"], dedup_key=f"purchase:{txn.id}:points")
    if settings.wechat_card_enabled and member is not None and (earned or points_to_use):
        wallet.queue_points_sync(session, settings, member, now=arrived)    # the wallet card shows the balance
    return txn


_TRANSACTIONS = Transaction.__table__
_INSERT_TRANSACTION = insert(_TRANSACTIONS)
_INSERT_ITEMS = insert(TransactionItem.__table__)
_INSERT_BENEFITS = insert(TransactionBenefit.__table__)
_FINISH_TRANSACTION = (update(_TRANSACTIONS).where(_TRANSACTIONS.c.id == bindparam("txn_id"))
                       .values(points_earned=bindparam("earned"), receipt=bindparam("body", type_=JSON)))


def _insert_transaction(session: Session, **values) -> Transaction:
    """The sale's row in one Core INSERT; returns it as the session's own (persistent,
    clean) instance without another statement, so later readers in the request get it
    from the identity map."""
    values = {"original_id": None, "points_earned": 0, "points_redeemed": 0, "points_shortfall": 0,
              "receipt": {}, **values}
    txn_id = run(sql_connection(session), _INSERT_TRANSACTION, values).lastrowid
    return add_as_loaded(session, Transaction, {"id": txn_id, **values})


def _finish_transaction(session: Session, txn: Transaction, *, points_earned: int, receipt: dict) -> None:
    """What a sale knows only at the end, its points and receipt, in one Core UPDATE; the
    instance is told without becoming dirty (no ORM flush)."""
    run(sql_connection(session), _FINISH_TRANSACTION, {"txn_id": txn.id, "earned": points_earned, "body": receipt})
    set_committed_value(txn, "points_earned", points_earned)
    set_committed_value(txn, "receipt", receipt)


def check_member_may_spend(member: Member | None, *, points_to_use: int, stored_value: bool) -> None:
    """The one gate that decides whether a sale may spend a member's balances (points,
    stored value): an active member must be there. (The cards issue adds the member's
    presence, a scanned dynamic code, here.)

    Stored value is the member's money (China's single-purpose prepaid card rules: nothing on
    a named card expires), so an expired or cancelled membership still spends it; only a
    closed one, whose principal was refunded at closing, cannot."""
    active = member is not None and member.status == "active"
    if points_to_use and not active:
        raise DomainError(N_("points can only be used by an active member"), code="points_need_member",
                          fields={"points_to_use": "no active member"})
    if stored_value and (member is None or member.status == "closed"):
        raise DomainError(N_("stored value can only be spent by a member whose membership is not closed"),
                          code="stored_value_needs_member", fields={"payments": "no member"})


@dataclass(frozen=True)
class _MemberSnapshot:
    """The member as the till reads them in one query before a sale: their history as the
    rules see it, referrals, the limited rules' counters, points available and pending, and
    their rolling 12-month spend (for the tier after the sale); the points balance as the
    member's locked read left it (``_member_for_till``)."""
    known: KnownFacts
    available: int
    pending: int
    balance: int
    year_spend_fen: int

    @classmethod
    def read(cls, session: Session, member: Member, today, settings: Settings) -> "_MemberSnapshot":
        compiled = live_rule_set(session, point_value_fen=settings.point_value_fen)
        windows = tuple(fact_windows(compiled))
        counters = limit_counters(compiled, counted_rules(compiled, "purchase")[0])
        # the points account the locked read held; a member with none has no lots and no balance
        account = ledger.held_account(session, member.id, "points")
        params = {"member_id": member.id, "account_id": account.id if account is not None else None,
                  "today": today, "year_start": rolling_year_start(today),
                  **{f"since_{d}": today - timedelta(days=d) for d in windows},
                  **counter_params(counters, today, membership_anchor(member))}
        row = json.loads(run_scalar(sql_connection(session), _snapshot_statement(windows, counters), params))
        n = 1 + 2 * len(windows)
        lots = row[n + 2]
        available, pending = json.loads(lots) if isinstance(lots, str) else lots   # nested: text on SQLite
        usage = usage_from_counters(counters, row[n + 3:])   # the rules' limits: no query of their own
        return cls(known=KnownFacts(history=history_from_row(row, windows), referral_count=int(row[n + 1] or 0),
                                    usage=usage, usage_of=compiled, usage_event="purchase"),
                   year_spend_fen=int(row[n] or 0), available=int(available or 0), pending=int(pending or 0),
                   balance=account.balance if account is not None else 0)


_SNAPSHOTS: dict[tuple, object] = {}


def _snapshot_statement(windows: tuple[int, ...], counters: tuple[tuple[int, str], ...]):
    """The snapshot's query, built once per set of windows the rules ask about and of limit
    counters they test, with bound parameters (building a statement and its cache key costs
    more than running it)."""
    statement = _SNAPSHOTS.get((windows, counters))
    if statement is None:
        member_id, today = bindparam("member_id", type_=Integer), bindparam("today", type_=Date)
        lots = ledger.points_lots_column(bindparam("account_id", type_=Integer), today)
        since = {d: bindparam(f"since_{d}", type_=Date) for d in windows}
        # one JSON array column (``sqlutil.packed``): each column returned costs the driver
        statement = (select(packed(*history_columns(None, list(windows), since=since),
                                   rolling_year_spend_column(today, start=bindparam("year_start", type_=Date)),
                                   referral_count_column(member_id), lots,
                                   *counter_columns(counters, member_id)))
                     .where(Transaction.member_id == member_id))
        if len(_SNAPSHOTS) > 64:   # the rules' windows and limits change rarely; never let this grow
            _SNAPSHOTS.clear()
        _SNAPSHOTS[(windows, counters)] = statement
    return statement


def preview_purchase(session: Session, *, settings: Settings, store_code: str, items: list[dict],
                     member_ref: dict | None = None, points_to_use: int = 0, payment_method: str = "cash",
                     staff: Staff | None = None, coupon_codes: list[str] | None = None) -> dict:
    """The receipt a purchase would print now, writing nothing: the purchase itself, in a
    savepoint rolled back (so the preview costs what a purchase costs and never disagrees
    with it). The caller rolls its own transaction back too (the locks end there)."""
    savepoint = session.begin_nested()
    try:
        txn = ring_up_purchase(session, store_code=store_code, items=items, clock=Clock.now(settings.tz),
                               settings=settings, member_ref=member_ref, points_to_use=points_to_use,
                               payment_method=payment_method, staff=staff, notify=False, coupon_codes=coupon_codes)
        body = dict(txn.receipt) | {"id": None, "preview": True}
    finally:
        savepoint.rollback()
    return body


def _check_sale_size(total: int, staff: Staff | None, settings: Settings) -> None:
    """A sale above WXCRM_SALE_APPROVAL_FEN is a manager's or an admin's to post."""
    if total > MAX_SALE_FEN:
        raise DomainError(f"a sale is at most {fen_to_yuan_str(MAX_SALE_FEN)} yuan", code="sale_too_large",
                          fields={"items": "too large"})
    if staff is not None and staff.role == "cashier" and total > settings.sale_approval_fen:
        raise DomainError(N_("a sale this large needs a manager's approval"), code="approval_required",
                          status=403, fields={"items": "approval required"})


def max_points_payment(settings: Settings, left_to_pay_fen: int) -> int:
    """The most points may pay of a bill: ``WXCRM_POINTS_MAX_SHARE_PCT`` of what is left
    after discounts, in fen (the till page shows it as points)."""
    return percent_of(left_to_pay_fen, settings.points_max_share_pct)


def _check_points_payment(points_to_use: int, left_to_pay_fen: int, settings: Settings) -> None:
    value = points_to_use * settings.point_value_fen
    left = fen_to_yuan_str(left_to_pay_fen)
    if value > left_to_pay_fen:
        raise DomainError(f"{points_to_use} points are worth more than the {left} yuan left to pay",
                          code="points_exceed_payable", fields={"points_to_use": "too many"},
                          params={"points": points_to_use, "left": left})
    most = max_points_payment(settings, left_to_pay_fen)
    if value > most:
        raise DomainError(f"points may pay at most {settings.points_max_share_pct}% of the bill: "
                          f"{most // settings.point_value_fen} points here", code="points_exceed_share",
                          fields={"points_to_use": "too many"},
                          params={"pct": settings.points_max_share_pct, "most": most // settings.point_value_fen})


def _open_store(session: Session, store_code: str, staff: Staff | None) -> Store:
    store = members.store_by_code(session, store_code)
    if not store.active:
        raise DomainError(f"store {store.code} is closed", code="store_inactive")
    if staff is not None and staff.works_at_a_store and staff.store_id != store.id:
        raise DomainError(f"cashier {staff.username} does not work at {store.code}", code="wrong_store",
                          status=403, fields={"store_code": "not your store"})
    return store


def _member_for_till(session: Session, ref: dict, settings: Settings, now: datetime, *,
                     lock: bool = False) -> Member:
    """The member a till names, by their dynamic code, id or card number; with ``lock``, read
    under their row lock (``benefits.events.lock_member``'s lock, taken in the same statement)."""
    if ref.get("qr_token"):     # refused here when forged, expired, replaced or frozen
        where = ("id", cards.read_code(session, settings, str(ref["qr_token"]), now=now).member_id)
    elif ref.get("member_id") is not None:
        where = ("id", ref["member_id"])
    elif ref.get("card_no"):
        where = ("card_no", str(ref["card_no"]).strip())
    else:
        raise DomainError(N_("member needs card_no, qr_token or member_id"), code="invalid_member_ref",
                          fields={"member": "card_no, qr_token or member_id required"})
    if lock:
        # One statement reads and locks the member and their points account (the till's
        # spend and earn lock it anyway, member first as everywhere).
        found = run_scalar(sql_connection(session), _LOCKED_MEMBER[where[0]], {"ref": where[1]})
        found = _unpack_till_member(found) if found is not None else None
        member = _till_member(session, found) if found is not None else None
        if found is not None and found[-2] is not None:
            ledger.hold_account(session, member.id, "points", found[-2], found[-1])
    else:
        member = session.scalar(select(Member).where(getattr(Member, where[0]) == where[1]))
    if member is None and ref.get("card_no") and not ref.get("qr_token"):
        cards.refuse_unknown_card(session, str(ref["card_no"]))     # a replaced number is named as such
    if member is None:
        raise NotFound(N_("no member with that card"), code="member_not_found")
    return member


# The member's columns a sale reads: the rules' facts, the tier, the notice's channel, the
# receipt, the coupons and the wallet card. The others (profile, privacy, timestamps) are left
# out of the locked read (issue 11: each column returned costs the driver as much as a small
# statement's parameters); read, they load on first use, as any deferred column.
TILL_MEMBER_COLUMNS = (
    Member.id, Member.card_no, Member.openid, Member.phone, Member.status, Member.tier_id, Member.tier_until,
    Member.birthday, Member.gender, Member.district, Member.group_id, Member.joined_on, Member.expires_on,
    Member.referrer_id, Member.followed, Member.marketing_consent, Member.coupons_held,
)


_TILL_MEMBER_KEYS = tuple(attr.key for attr in TILL_MEMBER_COLUMNS)
_TILL_MEMBER_READ = (*(attr.property.columns[0] for attr in TILL_MEMBER_COLUMNS),
                     LedgerAccount.__table__.c.id, LedgerAccount.__table__.c.balance)
_unpack_till_member = unpacker(_TILL_MEMBER_READ)


def _locked_member(column):
    """In SQLAlchemy Core (issue 11: the ORM's select, its loading and ``populate_existing``
    cost a third of the statement): the member's columns, then their points account's id
    and balance, in one JSON array column (``sqlutil.packed``: 19 columns cost the driver
    more than the statement)."""
    members_t, accounts = Member.__table__, LedgerAccount.__table__
    return (select(packed(*_TILL_MEMBER_READ))
            .select_from(members_t.outerjoin(accounts, (accounts.c.member_id == members_t.c.id)
                                             & (accounts.c.kind == "points")))
            .where(column == bindparam("ref")).with_for_update())


# The till's member read, built once: the member and their points account, under row locks.
_LOCKED_MEMBER = {"id": _locked_member(Member.__table__.c.id), "card_no": _locked_member(Member.__table__.c.card_no)}


def _till_member(session: Session, row) -> Member:
    """The locked row as the session's own Member, as the ORM would load it with
    ``populate_existing`` and ``load_only(TILL_MEMBER_COLUMNS)``: an instance the session
    holds gets the fresh values; else a new persistent, clean instance whose other columns
    load on first use (expired) and whose relationships load lazily."""
    values = dict(zip(_TILL_MEMBER_KEYS, row))
    existing = session.identity_map.get(identity_key(Member, values["id"]))
    if existing is not None:
        for key, value in values.items():
            set_committed_value(existing, key, value)
        return existing
    return add_as_loaded(session, Member, values)


def _price_basket(items: list[dict]) -> list[BasketLine]:
    if not items:
        raise DomainError(N_("the basket is empty"), code="empty_basket", fields={"items": "at least one item"})
    if len(items) > MAX_LINES:
        raise DomainError(f"at most {MAX_LINES} lines", code="too_many_lines", fields={"items": "too many"})
    lines = []
    for i, item in enumerate(items):
        qty, price = item["qty"], item["unit_price_fen"]
        if not (0 < qty <= MAX_QTY):
            raise DomainError(f"qty must be 1..{MAX_QTY}", code="invalid_qty", fields={f"items.{i}.qty": "out of range"})
        if not (0 <= price <= MAX_UNIT_PRICE_FEN):
            raise DomainError("unit_price_fen out of range", code="invalid_price",
                              fields={f"items.{i}.unit_price_fen": "out of range"})
        lines.append(BasketLine(line_no=i + 1, sku=item["sku"], category=item.get("category") or "",
                                qty=qty, unit_price_fen=price))
    return lines


def _line_discounts(effects) -> dict[int, int]:
    """Per basket line, the fen the rules' discounts took off it, as the engine spread them
    (``wxcrm.money.spread``): recorded per line, so refunds by item are exact."""
    out: dict[int, int] = {}
    for effect in effects:
        if effect.kind == "discount":
            for line_no, fen in effect.line_discounts:
                out[line_no] = out.get(line_no, 0) + fen
    return out


def purchase_receipt(session: Session, txn: Transaction, member: Member | None, clock: Clock) -> dict:
    """The answer the till prints and the API returns (also replayed for a repeated key)."""
    store = session.get(Store, txn.store_id)
    lines: list[dict] = []
    for item in session.scalars(select(TransactionItem).where(TransactionItem.transaction_id == txn.id)
                                .order_by(TransactionItem.line_no)):
        lines.append({"kind": "item", "text": f"{item.sku} × {item.qty}", "text_en": f"{item.sku} x {item.qty}",
                      "sku": item.sku, "qty": item.qty, "unit_price_fen": item.unit_price_fen,
                      "amount_fen": item.amount_fen})
    lines.append({"kind": "total", "text": "合计", "text_en": "Total", "amount_fen": txn.total_fen})
    benefits = list(session.scalars(select(TransactionBenefit).where(TransactionBenefit.transaction_id == txn.id)
                                    .order_by(TransactionBenefit.id)))
    for b in benefits:
        if b.kind in ("discount", "coupon_used"):
            lines.append({"kind": b.kind, "text": b.text_zh, "text_en": b.text_en, "amount_fen": -b.amount_fen,
                          "rule": b.rule_name, "rule_id": b.rule_id, "rule_version": b.rule_version})
    if txn.points_redeemed:
        lines.append({"kind": "points_redeemed", "text": f"积分抵扣 {txn.points_redeemed} 分",
                      "text_en": f"{txn.points_redeemed} points used", "points": -txn.points_redeemed,
                      "amount_fen": -txn.points_redeemed_fen})
    lines.append({"kind": "payable", "text": "应付", "text_en": "To pay", "amount_fen": txn.payable_fen})
    for b in benefits:
        if b.kind == "points":
            lines.append({"kind": "points", "text": b.text_zh, "text_en": b.text_en, "points": b.points,
                          "rule": b.rule_name, "rule_id": b.rule_id, "rule_version": b.rule_version})
        elif b.kind not in ("discount", "coupon_used"):
            lines.append({"kind": b.kind, "text": b.text_zh, "text_en": b.text_en, "points": b.points,
                          "amount_fen": b.amount_fen, "rule": b.rule_name, "rule_id": b.rule_id,
                          "rule_version": b.rule_version})
    if member is not None:
        for change in members.changes_by_transaction(session, member.id, txn.id, field="tier"):
            tier = members.find_tier(session, change.new_value)
            if tier is not None:
                lines.append({"kind": "tier", "text": f"会员等级升至{tier.name}",
                              "text_en": f"Tier raised to {tier.name_en or tier.name}"})
    balance = None
    if member is not None:
        summary = ledger.points_summary(session, member.id, clock.today)
        balance = summary.balance
        lines.append({"kind": "points_balance", "text": "积分余额", "text_en": "Points balance", "points": summary.balance})
        if summary.pending:
            lines.append({"kind": "points_pending", "text": "待生效积分", "text_en": "Points pending",
                          "points": summary.pending})
        if member.status != "active":
            lines.append({"kind": "notice", "text": "会员卡未激活，本单不积分", "text_en": "Card not active: no points earned"})
    body = {
        "id": txn.id, "kind": txn.kind, "store_code": store.code, "store_name": store.name,
        "member_id": txn.member_id, "card_no": member.card_no if member else None,
        "payment_method": txn.payment_method, "total_fen": txn.total_fen, "discount_fen": txn.discount_fen,
        "points_redeemed_fen": txn.points_redeemed_fen, "payable_fen": txn.payable_fen,
        "points_earned": txn.points_earned, "points_redeemed": txn.points_redeemed, "points_balance": balance,
        "business_date": txn.business_date.isoformat(), "created_at": rfc3339(txn.created_at),
        "recorded_at": rfc3339(txn.recorded_at or txn.created_at), "receipt_lines": lines,
    }
    return body


def _purchase_receipt_in_memory(session: Session, txn: Transaction, store: Store, member: Member | None,
                                lines: list[BasketLine], benefits: list[dict], facts: "_MemberSnapshot | None",
                                clock: Clock, tier_before: int | None) -> dict:
    """``purchase_receipt`` from what the sale has in memory: the basket, its benefits, the
    tier changes and the points account this session wrote (no read after the writes)."""
    out: list[dict] = []
    for line in lines:
        out.append({"kind": "item", "text": f"{line.sku} × {line.qty}", "text_en": f"{line.sku} x {line.qty}",
                    "sku": line.sku, "qty": line.qty, "unit_price_fen": line.unit_price_fen,
                    "amount_fen": line.amount_fen})
    out.append({"kind": "total", "text": "合计", "text_en": "Total", "amount_fen": txn.total_fen})
    for b in benefits:
        if b["kind"] in ("discount", "coupon_used"):
            out.append({"kind": b["kind"], "text": b["text_zh"], "text_en": b["text_en"],
                        "amount_fen": -b["amount_fen"], "rule": b["rule_name"], "rule_id": b["rule_id"],
                        "rule_version": b["rule_version"]})
    if txn.points_redeemed:
        out.append({"kind": "points_redeemed", "text": f"积分抵扣 {txn.points_redeemed} 分",
                    "text_en": f"{txn.points_redeemed} points used", "points": -txn.points_redeemed,
                    "amount_fen": -txn.points_redeemed_fen})
    out.append({"kind": "payable", "text": "应付", "text_en": "To pay", "amount_fen": txn.payable_fen})
    for b in benefits:
        if b["kind"] == "points":
            out.append({"kind": "points", "text": b["text_zh"], "text_en": b["text_en"], "points": b["points"],
                        "rule": b["rule_name"], "rule_id": b["rule_id"], "rule_version": b["rule_version"]})
        elif b["kind"] not in ("discount", "coupon_used"):
            out.append({"kind": b["kind"], "text": b["text_zh"], "text_en": b["text_en"], "points": b["points"],
                        "amount_fen": b["amount_fen"], "rule": b["rule_name"], "rule_id": b["rule_id"],
                        "rule_version": b["rule_version"]})
    balance = None
    if member is not None:
        if member.tier_id != tier_before and member.tier_id is not None:   # the rules or the spend moved it
            tier = next((t for t in members.tiers_by_rank(session) if t.id == member.tier_id), None)
            if tier is not None:
                out.append({"kind": "tier", "text": f"会员等级升至{tier.name}",
                            "text_en": f"Tier raised to {tier.name_en or tier.name}"})
        held = ledger.balance_in_session(session, member.id, "points")
        balance = facts.balance if held is None else held
        today = clock.today
        pending = facts.pending + sum(lot.remaining for lot in ledger.new_lots(session)
                                      if lot.transaction_id == txn.id and lot.available_from > today
                                      and lot.expires_on >= today and lot.remaining > 0)
        out.append({"kind": "points_balance", "text": "积分余额", "text_en": "Points balance", "points": balance})
        if pending:
            out.append({"kind": "points_pending", "text": "待生效积分", "text_en": "Points pending", "points": pending})
        if member.status != "active":
            out.append({"kind": "notice", "text": "会员卡未激活，本单不积分", "text_en": "Card not active: no points earned"})
    return {
        "id": txn.id, "kind": txn.kind, "store_code": store.code, "store_name": store.name,
        "member_id": txn.member_id, "card_no": member.card_no if member else None,
        "payment_method": txn.payment_method, "total_fen": txn.total_fen, "discount_fen": txn.discount_fen,
        "points_redeemed_fen": txn.points_redeemed_fen, "payable_fen": txn.payable_fen,
        "points_earned": txn.points_earned, "points_redeemed": txn.points_redeemed, "points_balance": balance,
        "business_date": txn.business_date.isoformat(), "created_at": rfc3339(txn.created_at),
        "recorded_at": rfc3339(txn.recorded_at or txn.created_at), "receipt_lines": out,
    }


# ---------------------------------------------------------------- refund

def refund_purchase(session: Session, *, transaction_id: int, clock: Clock, settings: Settings,
                    items: list[dict] | None = None, staff: Staff | None = None, notify: bool = True) -> Transaction:
    """Refund a whole purchase or some of its items.

    Earned points come back pro rata to the money refunded; points used as payment are
    restored pro rata. If the member already spent the earned points, what cannot be
    taken back is charged against the refund at the till's point value (see README,
    "Refund policy"): no balance ever goes negative.
    """
    if staff is not None and staff.role == "cashier":
        raise DomainError(N_("refunds need a manager"), code="manager_required", status=403)
    original = session.scalar(select(Transaction).where(Transaction.id == transaction_id).with_for_update()
                              .execution_options(populate_existing=True))   # as it is now (a claim?)
    if original is None or original.kind != "purchase":
        raise NotFound(f"no purchase {transaction_id}", code="transaction_not_found")
    if staff is not None and staff.works_at_a_store and staff.store_id != original.store_id:
        raise DomainError("a manager refunds only purchases of their own store", code="wrong_store", status=403)
    originals = {it.line_no: it for it in session.scalars(
        select(TransactionItem).where(TransactionItem.transaction_id == original.id).with_for_update())}

    wanted = _refund_quantities(originals, items)
    if not wanted:
        raise DomainError(N_("nothing left to refund on this purchase"), code="already_refunded")

    net = {n: it.amount_fen - it.discount_fen for n, it in originals.items()}
    purchase_net = sum(net.values())  # what the basket cost after discounts
    before = sum(_net_refunded(it, net[n]) for n, it in originals.items())
    for line_no, qty in wanted.items():
        originals[line_no].refunded_qty += qty
    after = sum(_net_refunded(it, net[n]) for n, it in originals.items())
    fully = all(it.refunded_qty == it.qty for it in originals.values())

    def share(total: int) -> int:
        """This refund's part of ``total``: cumulative pro rata, so the parts add up exactly."""
        return cumulative_share(total, before, after, purchase_net, last=fully)

    points_back = share(original.points_earned)
    claimed_net = None
    if original.member_id is not None and (original.receipt or {}).get("claim_token"):
        claimed_net = claims.claimed_net_fen(session, original.id)
    if claimed_net is not None:     # scan-to-earn: its points were given on what was left at the claim
        gone = purchase_net - claimed_net
        points_back = (original.points_earned if fully else 0) if claimed_net <= 0 else cumulative_share(
            original.points_earned, before - gone, after - gone, claimed_net, last=fully)
    redeemed_back = share(original.points_redeemed)
    redeemed_fen_back = share(original.points_redeemed_fen)
    money_back = share(original.payable_fen)
    gross = sum(originals[n].unit_price_fen * q for n, q in wanted.items())
    discount_back = share(original.discount_fen)

    refund = Transaction(kind="refund", store_id=original.store_id, member_id=original.member_id,
                         staff_id=staff.id if staff else None, original_id=original.id,
                         payment_method=original.payment_method, total_fen=gross, discount_fen=discount_back,
                         points_redeemed_fen=redeemed_fen_back, payable_fen=money_back, points_earned=0,
                         points_redeemed=0, business_date=clock.today, created_at=clock.utc,
                         recorded_at=clock.utc, receipt={})
    session.add(refund)
    session.flush()
    returned = []
    for line_no, qty in sorted(wanted.items()):
        it = originals[line_no]
        returned.append(TransactionItem(transaction_id=refund.id, line_no=line_no, sku=it.sku, category=it.category,
                                        qty=qty, unit_price_fen=it.unit_price_fen, amount_fen=it.unit_price_fen * qty,
                                        discount_fen=0))
    session.add_all(returned)

    shortfall = 0
    if original.member_id is not None and points_back:
        _, shortfall = ledger.claw_back_points(session, original.member_id, points_back, ledger.Cause(
            "refund", ref=str(refund.id), transaction_id=refund.id, staff_id=refund.staff_id, at=clock.utc,
            text_zh=f"退货扣回积分（原单 {original.id}）", text_en=f"Points taken back for refund of #{original.id}"),
            prefer_transaction_id=original.id)
    if original.member_id is not None and redeemed_back:
        spend_id = session.scalar(select(LedgerEntry.id).where(LedgerEntry.transaction_id == original.id,
                                                              LedgerEntry.cause == "redeem"))
        ledger.restore_spent_points(session, spend_id, redeemed_back, ledger.Cause(
            "redeem_reversal", transaction_id=refund.id, staff_id=refund.staff_id, at=clock.utc,
            text_zh=f"退货退回抵扣积分（原单 {original.id}）", text_en=f"Points returned for refund of #{original.id}"))
    # Points the member already spent are paid for out of the refund, never below zero.
    charge = min(shortfall * settings.point_value_fen, refund.payable_fen)
    refund.points_earned = -(points_back - shortfall)
    refund.points_redeemed = -redeemed_back
    refund.points_shortfall = shortfall
    refund.payable_fen -= charge
    session.flush()
    tender_lines = []
    if original.payment_method in ("split", "stored_value"):   # tenders of their own to give back to
        tender_lines = tenders.refund_payments(session, original, refund, clock=clock)
    if fully and original.member_id is not None:
        buyer = session.get(Member, original.member_id)
        release_usage(session, original.member_id, original.business_date, benefits_by_rule(session, original.id),
                      membership_anchor(buyer))
    refund.receipt = refund_receipt(session, refund, original, clock, shortfall_charge_fen=charge, items=returned)
    if tender_lines:
        refund.receipt = tenders.with_refund_lines(session, refund, refund.receipt, tender_lines)
    if fully and (original.receipt or {}).get("coupons_applied"):       # no query for a sale without coupons
        coupon_lines = coupons.restore_after_refund(session, original, refund, clock)
        if coupon_lines:
            refund.receipt = refund.receipt | {"receipt_lines": refund.receipt["receipt_lines"] + coupon_lines}
    change = refund.points_earned - refund.points_redeemed      # taken back (-) and given back (+)
    buyer = session.get(Member, original.member_id) if original.member_id is not None else None
    if settings.wechat_card_enabled and buyer is not None and change:
        wallet.queue_points_sync(session, settings, buyer, now=clock.utc)
    if notify and buyer is not None and change and buyer.openid:
        store = members.store_by_id(session, original.store_id)
        notify_points_changed(session, settings, buyer, store_name=store.name, change=change,
                              balance=refund.receipt["points_balance"], dedup_key=f"refund:{refund.id}:points",
                              refund=True)
    return refund


def _refund_quantities(originals: dict[int, TransactionItem], items: list[dict] | None) -> dict[int, int]:
    if items is None:  # the whole purchase, or what is left of it
        return {n: it.qty - it.refunded_qty for n, it in originals.items() if it.qty > it.refunded_qty}
    if not items:
        raise DomainError("items is empty", code="empty_refund", fields={"items": "at least one item"})
    wanted: dict[int, int] = {}
    for i, spec in enumerate(items):
        line_no = spec.get("line_no")
        if line_no is None:
            matches = [n for n, it in originals.items() if it.sku == spec.get("sku")
                       and it.qty - it.refunded_qty - wanted.get(n, 0) > 0]
            if not matches:
                raise DomainError(f"no refundable line for sku {spec.get('sku')}", code="invalid_refund_item",
                                  fields={f"items.{i}": "not on the purchase"})
            line_no = matches[0]
        it = originals.get(line_no)
        if it is None:
            raise DomainError(f"no line {line_no} on the purchase", code="invalid_refund_item",
                              fields={f"items.{i}.line_no": "not on the purchase"})
        qty = spec.get("qty") or (it.qty - it.refunded_qty - wanted.get(line_no, 0))
        if qty <= 0 or it.refunded_qty + wanted.get(line_no, 0) + qty > it.qty:
            raise DomainError(f"line {line_no}: only {it.qty - it.refunded_qty - wanted.get(line_no, 0)} left to refund",
                              code="refund_exceeds_purchase", fields={f"items.{i}.qty": "more than was bought"})
        wanted[line_no] = wanted.get(line_no, 0) + qty
    return wanted


def refunded_net_fen(items) -> int:
    """The net (after discounts) value of what has been refunded of a purchase's lines so far."""
    return sum(_net_refunded(it, it.amount_fen - it.discount_fen) for it in items)


def _net_refunded(item: TransactionItem, line_net: int) -> int:
    """The net (after discount) value of what has been refunded of a line so far."""
    if item.refunded_qty == item.qty:
        return line_net
    return pro_rata_down(line_net, item.refunded_qty, item.qty)


def refund_receipt(session: Session, refund: Transaction, original: Transaction, clock: Clock, *,
                   shortfall_charge_fen: int, items: list[TransactionItem] | None = None) -> dict:
    """The refund receipt, from the customer's side: what goes back to them is positive
    (the items, the money, points used that come back), what is taken back is negative
    (the original discount, points earned); points are points, never money."""
    store = members.store_by_id(session, refund.store_id)
    member = session.get(Member, refund.member_id) if refund.member_id is not None else None
    lines = []
    if items is None:
        items = session.scalars(select(TransactionItem).where(TransactionItem.transaction_id == refund.id)
                                .order_by(TransactionItem.line_no))
    for item in items:
        lines.append({"kind": "item", "text": f"退 {item.sku} × {item.qty}", "text_en": f"Return {item.sku} x {item.qty}",
                      "sku": item.sku, "qty": item.qty, "amount_fen": item.amount_fen})
    if refund.discount_fen:
        lines.append({"kind": "discount", "text": "原单折扣", "text_en": "Original discount",
                      "amount_fen": -refund.discount_fen})
    if refund.points_redeemed_fen:
        lines.append({"kind": "points_redeemed_money", "text": "积分抵扣部分（退回积分）",
                      "text_en": "Part paid with points (returned as points)",
                      "amount_fen": -refund.points_redeemed_fen})
    if shortfall_charge_fen:
        lines.append({"kind": "points_shortfall", "text": f"{refund.points_shortfall} 积分已使用，从退款中扣除",
                      "text_en": f"{refund.points_shortfall} earned points already used: charged against the refund",
                      "points": refund.points_shortfall, "amount_fen": -shortfall_charge_fen})
    lines.append({"kind": "refund", "text": "应退", "text_en": "To refund", "amount_fen": refund.payable_fen})
    if refund.points_earned:
        lines.append({"kind": "points", "text": "扣回所得积分", "text_en": "Earned points taken back",
                      "points": refund.points_earned})
    if refund.points_redeemed:
        lines.append({"kind": "points_returned", "text": "退回抵扣积分", "text_en": "Points used given back",
                      "points": -refund.points_redeemed})
    balance = None
    if refund.member_id is not None:
        balance = ledger.balance_in_session(session, refund.member_id, "points")
        if balance is None:
            balance = ledger.balance(session, refund.member_id, "points")
        lines.append({"kind": "points_balance", "text": "积分余额", "text_en": "Points balance", "points": balance})
    return {
        "id": refund.id, "kind": "refund", "original_id": original.id, "store_code": store.code,
        "store_name": store.name, "member_id": refund.member_id, "card_no": member.card_no if member else None,
        "payment_method": refund.payment_method, "total_fen": refund.total_fen, "discount_fen": refund.discount_fen,
        "refund_fen": refund.payable_fen, "payable_fen": -refund.payable_fen, "points_earned": refund.points_earned,
        "points_redeemed": refund.points_redeemed, "points_shortfall": refund.points_shortfall,
        "points_balance": balance, "business_date": refund.business_date.isoformat(),
        "created_at": rfc3339(refund.created_at), "recorded_at": rfc3339(refund.recorded_at or refund.created_at),
        "receipt_lines": lines,
    }
