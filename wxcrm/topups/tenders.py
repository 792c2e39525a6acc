"""Paying at the till with several tenders (``payments: [...]``), stored value among them,
and giving a refund back to each tender. Checkout calls these through small hooks; a sale
paid with one tender and no stored value costs no query here.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.errors import N_, DomainError
from wxcrm.ledger import service as ledger
from wxcrm.messages import outbox
from wxcrm.money import fen_to_yuan_str
from wxcrm.sales.models import Transaction, TransactionPayment
from wxcrm.timeutil import Clock

MAX_TENDERS = 8
# A tender's name on the receipt (the receipt keeps both languages, as its other lines do).
METHOD_ZH = {"cash": "现金", "card": "银行卡", "wechat_pay": "微信支付", "alipay": "支付宝", "stored_value": "储值",
             "other": "其他"}
METHOD_EN = {"cash": "Cash", "card": "Bank card", "wechat_pay": "WeChat Pay", "alipay": "Alipay",
             "stored_value": "Stored value", "other": "Other"}
STORED_VALUE = "stored_value"


@dataclass(frozen=True)
class Tender:
    method: str
    amount_fen: int | None      # None: whatever is left to pay (the single-tender shorthand)


@dataclass
class TenderPlan:
    """The tenders a till sent, before the rules decide what is left to pay; after
    ``take_payments``, the receipt lines and the stored value left."""
    tenders: tuple[Tender, ...]
    lines: list | None = None
    left: ledger.ValueSplit | None = None

    @property
    def split(self) -> bool:
        return len(self.tenders) > 1

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.method for t in self.tenders))

    @property
    def method(self) -> str:
        """What the sale's ``payment_method`` says: the one method, or ``split``."""
        methods = self.methods
        return methods[0] if len(methods) == 1 else "split"

    @property
    def uses_stored_value(self) -> bool:
        return any(t.method == STORED_VALUE for t in self.tenders)

    def stored_value_fen(self, payable_fen: int) -> int:
        return sum(amount for t, amount in zip(self.tenders, self.amounts(payable_fen)) if t.method == STORED_VALUE)

    def amounts(self, payable_fen: int) -> list[int]:
        """Each tender's fen; the one without an amount takes what the others leave."""
        given = sum(t.amount_fen for t in self.tenders if t.amount_fen is not None)
        return [max(payable_fen - given, 0) if t.amount_fen is None else t.amount_fen for t in self.tenders]


def plan_tenders(payments: list[dict] | None, payment_method: str, methods: tuple[str, ...]) -> TenderPlan:
    """``payments`` as sent (``[{"method", "amount_fen"}]``), or the single ``payment_method``."""
    if not payments:
        return TenderPlan((Tender(payment_method, None),))
    if len(payments) > MAX_TENDERS:
        raise DomainError(f"at most {MAX_TENDERS} payments", code="too_many_payments", fields={"payments": "too many"})
    tenders = []
    for i, p in enumerate(payments):
        if p.get("method") not in methods:
            raise DomainError(f"payments[{i}].method must be one of {', '.join(methods)}",
                              code="invalid_payment_method", fields={f"payments.{i}.method": "invalid"})
        amount = p.get("amount_fen")
        if amount is None and not any(t.amount_fen is None for t in tenders):
            tenders.append(Tender(p["method"], None))     # the rest of the bill
            continue
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise DomainError(f"payments[{i}].amount_fen must be a positive whole number of fen",
                              code="invalid_payment_amount", fields={f"payments.{i}.amount_fen": "invalid"})
        tenders.append(Tender(p["method"], amount))
    return TenderPlan(tuple(tenders))


def non_earning_fen(plan: TenderPlan, total_fen: int, settings: Settings) -> int:
    """The part of a sale the rules must not pay points on because stored value pays it
    (``WXCRM_STORED_VALUE_EARNS_POINTS`` off: the bonus was already a reward). The single
    shorthand ``stored_value`` pays all of it."""
    if settings.stored_value_earns_points or not plan.uses_stored_value:
        return 0
    return plan.stored_value_fen(total_fen)


def check_tenders(plan: TenderPlan, payable_fen: int) -> None:
    """The tenders must add up to what is left to pay after discounts and points."""
    if not plan.split and plan.tenders[0].amount_fen is None:
        return
    given = sum(t.amount_fen for t in plan.tenders if t.amount_fen is not None)
    rest = any(t.amount_fen is None for t in plan.tenders)
    paid = max(given, payable_fen) if rest else given
    if paid != payable_fen:
        raise DomainError(f"the payments add up to {fen_to_yuan_str(paid)} yuan, "
                          f"{fen_to_yuan_str(payable_fen)} yuan is left to pay", code="payments_do_not_add_up",
                          fields={"payments": "must add up to what is left to pay"},
                          params={"paid": fen_to_yuan_str(paid), "payable": fen_to_yuan_str(payable_fen)})


def take_payments(session: Session, txn: Transaction, plan: TenderPlan, *, clock: Clock,
                  settings: Settings) -> list[TransactionPayment]:
    """Record the sale's tenders and spend its stored value (locked: never more than the
    balance, however many tills spend it at once). A sale paid by one tender with no
    stored value writes one row and reads nothing."""
    rows = []
    for tender, amount in zip(plan.tenders, plan.amounts(txn.payable_fen)):
        if amount == 0:
            continue                      # "the rest" when nothing was left
        entry_id = None
        line = {"kind": "payment", "method": tender.method, "amount_fen": amount,
                "text": METHOD_ZH.get(tender.method, tender.method), "text_en": METHOD_EN.get(tender.method, tender.method)}
        if tender.method == STORED_VALUE and amount > 0:
            if txn.member_id is None:
                raise DomainError(N_("stored value can only be spent by a member"), code="stored_value_needs_member",
                                  fields={"payments": "no member"})
            spent = ledger.spend_value(session, txn.member_id, amount, ledger.Cause(
                "purchase", ref=str(txn.id), transaction_id=txn.id, staff_id=txn.staff_id, at=clock.utc,
                text_zh=f"储值支付 {fen_to_yuan_str(amount)} 元", text_en=f"Paid {fen_to_yuan_str(amount)} yuan from stored value"),
                order=settings.stored_value_spend_order)
            entry_id = spent.entry.id
            line.update(text="储值支付", text_en="Paid from stored value", principal_fen=spent.taken.principal,
                        bonus_fen=spent.taken.bonus)
            plan.left = spent.left
        session.add(TransactionPayment(transaction_id=txn.id, method=tender.method, amount_fen=amount,
                                       ledger_entry_id=entry_id))
        rows.append(line)
    session.flush()
    plan.lines = rows
    return rows


def payment_lines(session: Session, txn: Transaction) -> list[dict]:
    """The receipt's tender lines; the stored-value one says which part was principal and
    which bonus (an invoice is issued on the principal spent, not at the top-up)."""
    lines = []
    for p in session.scalars(select(TransactionPayment).where(TransactionPayment.transaction_id == txn.id)
                             .order_by(TransactionPayment.id)):
        line = {"kind": "payment", "method": p.method, "amount_fen": p.amount_fen,
                "text": METHOD_ZH.get(p.method, p.method), "text_en": METHOD_EN.get(p.method, p.method)}
        if p.ledger_entry_id is not None:
            split = ledger.entry_split(session, p.ledger_entry_id)
            line.update(text="储值支付", text_en="Paid from stored value",
                        principal_fen=abs(split.principal), bonus_fen=abs(split.bonus))
        lines.append(line)
    return lines


def notify_low_balance(session: Session, settings: Settings, member, *, balance_fen: int, dedup_key: str,
                       clock: Clock) -> None:
    if not settings.stored_value_low_fen or balance_fen >= settings.stored_value_low_fen:
        return
    if not (member.openid or member.phone):
        return
    outbox.enqueue(session, settings, purpose="stored_value_low", member=member,
                   text=f"您的储值余额仅剩 {fen_to_yuan_str(balance_fen)} 元，可到店或在会员卡页面充值。",
                   fields={"balance": fen_to_yuan_str(balance_fen)}, dedup_key=dedup_key, now=clock.utc)


# ---------------------------------------------------------------- refunds

def refund_payments(session: Session, original: Transaction, refund: Transaction, *, clock: Clock) -> list[dict]:
    """Split a refund's money over the original's tenders, pro rata to what each still has
    to give back, so partial refunds add up exactly and a last refund empties every tender.
    Stored value goes back to the principal and bonus it came from. Returns the refund's
    tender lines. A sale with no tender rows (older than split payments) gets one line."""
    paid = list(session.scalars(select(TransactionPayment).where(TransactionPayment.transaction_id == original.id)
                                .order_by(TransactionPayment.id)))
    if not paid:
        return []
    earlier = [t.id for t in session.scalars(select(Transaction).where(
        Transaction.original_id == original.id, Transaction.id != refund.id))]
    back: dict[str, int] = {}
    if earlier:
        for method, amount in session.execute(select(TransactionPayment.method, TransactionPayment.amount_fen)
                                              .where(TransactionPayment.transaction_id.in_(earlier))):
            back[method] = back.get(method, 0) + amount
    # What each tender row may still give back (a method may appear twice: rows in order).
    room = []
    returned = dict(back)
    for p in paid:
        took = min(returned.get(p.method, 0), p.amount_fen)
        returned[p.method] = returned.get(p.method, 0) - took
        room.append(p.amount_fen - took)
    total_room = sum(room)
    money = min(refund.payable_fen, total_room)
    shares = [money * r // total_room if total_room else 0 for r in room]
    rest = money - sum(shares)
    for i in range(len(shares)):
        if rest == 0:
            break
        extra = min(room[i] - shares[i], rest)
        shares[i] += extra
        rest -= extra
    lines = []
    for p, share in zip(paid, shares):
        if share <= 0:
            continue
        entry_id = None
        if p.ledger_entry_id is not None:
            entry = ledger.restore_spent_value(session, p.ledger_entry_id, share, ledger.Cause(
                "refund", ref=str(refund.id), transaction_id=refund.id, staff_id=refund.staff_id, at=clock.utc,
                text_zh=f"退货退回储值（原单 {original.id}）", text_en=f"Stored value returned for refund of #{original.id}"))
            entry_id = entry.id
        session.add(TransactionPayment(transaction_id=refund.id, method=p.method, amount_fen=share,
                                       ledger_entry_id=entry_id))
        line = {"kind": "refund_payment", "method": p.method, "amount_fen": share,
                "text": f"退回{METHOD_ZH.get(p.method, p.method)}", "text_en": f"Back to {METHOD_EN.get(p.method, p.method)}"}
        if entry_id is not None:
            split = ledger.entry_split(session, entry_id)
            line.update(text="退回储值", text_en="Back to stored value", principal_fen=split.principal,
                        bonus_fen=split.bonus)
        lines.append(line)
    session.flush()
    return lines


def with_payment_lines(session: Session, txn: Transaction, receipt: dict, *, member, notify: bool, clock: Clock,
                       settings: Settings, plan: TenderPlan | None = None) -> dict:
    """The receipt of a split or stored-value sale: its tenders, and the member's stored
    value left (and a low-balance notice when it runs low). A new dict: the JSON column
    sees only a new value. With the ``plan`` that took the payments, nothing is read again."""
    receipt = {**receipt, "receipt_lines": list(receipt["receipt_lines"])}
    lines = plan.lines if plan is not None and plan.lines is not None else payment_lines(session, txn)
    receipt["payments"] = [{"method": line["method"], "amount_fen": line["amount_fen"]} for line in lines]
    at = next((i for i, line in enumerate(receipt["receipt_lines"]) if line["kind"] == "payable"),
              len(receipt["receipt_lines"]) - 1)
    receipt["receipt_lines"][at + 1:at + 1] = lines
    if member is not None and any(line["method"] == STORED_VALUE for line in lines):
        split = plan.left if plan is not None and plan.left is not None else ledger.value_split(session, member.id)
        receipt["stored_value_fen"] = split.total
        receipt["receipt_lines"].append({"kind": "stored_value_balance", "text": "储值余额",
                                         "text_en": "Stored value balance", "amount_fen": split.total})
        if notify:
            notify_low_balance(session, settings, member, balance_fen=split.total,
                               dedup_key=f"purchase:{txn.id}:low_balance", clock=clock)
    return receipt


def with_refund_lines(session: Session, refund: Transaction, receipt: dict, lines: list[dict]) -> dict:
    receipt = {**receipt, "receipt_lines": list(receipt["receipt_lines"])}
    receipt["payments"] = [{"method": line["method"], "amount_fen": line["amount_fen"]} for line in lines]
    at = next((i for i, line in enumerate(receipt["receipt_lines"]) if line["kind"] == "refund"),
              len(receipt["receipt_lines"]) - 1)
    receipt["receipt_lines"][at + 1:at + 1] = lines
    if refund.member_id is not None and any(line["method"] == STORED_VALUE for line in lines):
        receipt["stored_value_fen"] = ledger.balance(session, refund.member_id, "stored_value")
    return receipt
