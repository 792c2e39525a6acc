"""What stored value owes between owners, and what is still owed to members.

An owner is the brand (its direct stores, and WeChat top-ups with no home store) or a
franchisee (its franchise stores). The owner whose store took a top-up holds its money;
when the stored value is spent at another owner's store, the issuing owner owes the
spending owner the principal spent, and whoever funds the bonus (the brand, or the issuing
owner with ``WXCRM_STORED_VALUE_BONUS_FUNDED_BY=issuer``) owes it the bonus spent. A refund
of such a purchase puts the value back and reverses the debt, in the period it happens. A
paid membership bought with stored value at a till is spending at that till's store.

A period is a calendar month of the merchant's time zone. Closing it freezes its lines;
anything recorded later (a late refund, an offline sale) falls into the next open period.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.errors import N_, DomainError
from wxcrm.ledger.models import LedgerAccount, LedgerEntry, ValueLot, ValueMovement
from wxcrm.members.models import Franchisee, Store
from wxcrm.sales.models import Transaction
from wxcrm.timeutil import add_months, to_utc_naive
from wxcrm.topups.models import MembershipPurchase, SettlementPeriod

BRAND = "brand"


def owner_of(store: Store | None) -> str:
    """``brand`` or ``franchisee:<code>``."""
    if store is None or store.kind != "franchise" or store.franchisee_id is None:
        return BRAND
    return f"franchisee:{store.franchisee_id}"


def period_bounds(period: str, settings: Settings) -> tuple[datetime, datetime]:
    """A month ``YYYY-MM`` as naive UTC [start, end)."""
    try:
        first = date.fromisoformat(period + "-01")
    except ValueError as exc:
        raise DomainError("a period is a month, YYYY-MM", code="invalid_period") from exc
    nxt = add_months(first, 1)
    start = to_utc_naive(datetime.combine(first, time(), settings.tz))
    end = to_utc_naive(datetime.combine(nxt, time(), settings.tz))
    return start, end


@dataclass
class Line:
    """One debtor owing one creditor in a period, with the transactions behind it."""
    debtor: str
    creditor: str
    principal_fen: int = 0
    bonus_fen: int = 0
    transactions: set = field(default_factory=set)
    memberships: set = field(default_factory=set)      # paid memberships bought with stored value
    # (store of issue, store of sale) -> [principal, bonus]: the line per store
    stores: dict = field(default_factory=dict)

    @property
    def total_fen(self) -> int:
        return self.principal_fen + self.bonus_fen

    def as_dict(self, names: dict[str, str]) -> dict:
        return {"debtor": self.debtor, "debtor_name": names.get(self.debtor, self.debtor), "creditor": self.creditor,
                "creditor_name": names.get(self.creditor, self.creditor), "principal_fen": self.principal_fen,
                "bonus_fen": self.bonus_fen, "total_fen": self.total_fen,
                "transactions": sorted(self.transactions), "memberships": sorted(self.memberships),
                "stores": [{"issued_at": issued, "sold_at": sold, "principal_fen": p, "bonus_fen": b}
                           for (issued, sold), (p, b) in sorted(self.stores.items(), key=lambda kv: (kv[0][0] or "",
                                                                                                   kv[0][1] or ""))]}


def owner_names(session: Session, brand_name: str) -> dict[str, str]:
    names = {BRAND: brand_name}
    for f in session.scalars(select(Franchisee)):
        names[f"franchisee:{f.id}"] = f.name
    return names


def _closed(session: Session) -> list[SettlementPeriod]:
    return list(session.scalars(select(SettlementPeriod).order_by(SettlementPeriod.period)))


def settlement_lines(session: Session, period: str, settings: Settings) -> list[dict]:
    """The period's lines: frozen if it is closed, else worked out from the ledger."""
    lines = settlement_months(session, [period], settings)[period]
    if lines is None:
        raise DomainError(N_("periods before the last closed one are closed"), code="period_closed")
    return lines


def settlement_months(session: Session, periods: list[str], settings: Settings) -> dict[str, list[dict] | None]:
    """Each period's lines, as ``settlement_lines`` gives them, with the closed periods, the
    stores and the owners read once for all of them (a report over a year asks for twelve);
    None for an open period before the last closed one (never closed, nothing to settle)."""
    closed = {p.period: p for p in _closed(session)}
    last = max(closed.values(), key=lambda p: p.period) if closed else None
    stores = names = None
    out: dict[str, list[dict] | None] = {}
    for period in periods:
        if period in closed:
            out[period] = list(closed[period].lines)
            continue
        start, end = period_bounds(period, settings)
        entry_filter = (LedgerEntry.created_at >= start) & (LedgerEntry.created_at < end)
        if last is not None:
            if period < last.period:
                out[period] = None
                continue
            if period == _first_open(last.period):
                # recorded after the last closing but dated in a closed period: it counts now
                entry_filter = entry_filter | ((LedgerEntry.created_at < start) & (LedgerEntry.id > last.last_entry_id))
        if stores is None:
            stores = {s.id: s for s in session.scalars(select(Store))}
            names = owner_names(session, settings.brand_name)
        out[period] = [line.as_dict(names) for line in _lines(session, entry_filter, settings, stores)]
    return out


def _first_open(last_closed: str) -> str:
    first = date.fromisoformat(last_closed + "-01")
    return add_months(first, 1).isoformat()[:7]


def _lines(session: Session, entry_filter, settings: Settings, stores: dict[int, Store]) -> list[Line]:
    rows = session.execute(
        select(ValueMovement.principal, ValueMovement.bonus, ValueLot.store_id, Transaction.store_id,
               Transaction.id, Transaction.original_id)
        .join(LedgerEntry, LedgerEntry.id == ValueMovement.entry_id)
        .join(ValueLot, ValueLot.id == ValueMovement.lot_id)
        .join(Transaction, Transaction.id == LedgerEntry.transaction_id)
        .where(entry_filter, LedgerEntry.cause.in_(("purchase", "refund")))).all()
    bought = session.execute(
        select(ValueMovement.principal, ValueMovement.bonus, ValueLot.store_id, MembershipPurchase.store_id,
               MembershipPurchase.id)
        .join(LedgerEntry, LedgerEntry.id == ValueMovement.entry_id)
        .join(ValueLot, ValueLot.id == ValueMovement.lot_id)
        .join(MembershipPurchase, MembershipPurchase.ledger_entry_id == LedgerEntry.id)
        .where(entry_filter, LedgerEntry.cause == "membership")).all()
    lines: dict[tuple[str, str], Line] = {}

    def owe(debtor: str, creditor: str, principal: int, bonus: int, txn_id: int, where: tuple,
            membership: bool = False) -> None:
        if debtor == creditor or (principal == 0 and bonus == 0):
            return
        line = lines.setdefault((debtor, creditor), Line(debtor, creditor))
        line.principal_fen += principal
        line.bonus_fen += bonus
        (line.memberships if membership else line.transactions).add(txn_id)
        per_store = line.stores.setdefault(where, [0, 0])
        per_store[0] += principal
        per_store[1] += bonus

    for principal, bonus, lot_store, sale_store, txn_id, original_id in rows:
        issuer = owner_of(stores.get(lot_store))
        seller = owner_of(stores.get(sale_store))
        funder = issuer if settings.stored_value_bonus_funded_by == "issuer" else BRAND
        where = (stores[lot_store].code if lot_store in stores else None, stores[sale_store].code)
        # spent: movements are negative; put back by a refund: positive (reverses the debt)
        owe(issuer, seller, -principal, 0, original_id or txn_id, where)
        owe(funder, seller, 0, -bonus, original_id or txn_id, where)
    for principal, bonus, lot_store, sale_store, purchase_id in bought:
        issuer = owner_of(stores.get(lot_store))
        seller = owner_of(stores.get(sale_store))
        funder = issuer if settings.stored_value_bonus_funded_by == "issuer" else BRAND
        where = (stores[lot_store].code if lot_store in stores else None,
                 stores[sale_store].code if sale_store in stores else None)
        owe(issuer, seller, -principal, 0, purchase_id, where, membership=True)
        owe(funder, seller, 0, -bonus, purchase_id, where, membership=True)
    return sorted(lines.values(), key=lambda x: (x.debtor, x.creditor))


def owner_totals(lines: list[dict]) -> dict[str, dict]:
    """Per owner: what it is owed (receivable) and owes (payable)."""
    out: dict[str, dict] = {}
    for line in lines:
        d = out.setdefault(line["debtor"], {"name": line["debtor_name"], "receivable_fen": 0, "payable_fen": 0})
        c = out.setdefault(line["creditor"], {"name": line["creditor_name"], "receivable_fen": 0, "payable_fen": 0})
        d["payable_fen"] += line["total_fen"]
        c["receivable_fen"] += line["total_fen"]
    return out


def close_period(session: Session, period: str, settings: Settings, *, now: datetime, staff_id: int | None) -> SettlementPeriod:
    """Freeze a finished month's lines. Months close in order."""
    start, end = period_bounds(period, settings)
    if now < end:
        raise DomainError(N_("a period closes after it ends"), code="period_not_over")
    closed = _closed(session)
    if any(p.period == period for p in closed):
        raise DomainError(N_("this period is already closed"), code="period_closed")
    if closed and period < max(p.period for p in closed):
        raise DomainError(N_("periods close in order"), code="period_out_of_order")
    lines = settlement_lines(session, period, settings)
    last_id = session.scalar(select(func.max(LedgerEntry.id))) or 0
    row = SettlementPeriod(period=period, closed_at=now, closed_by=staff_id, last_entry_id=last_id, lines=lines)
    session.add(row)
    session.flush()
    return row


def export_csv(lines: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["debtor", "creditor", "principal_yuan", "bonus_yuan", "total_yuan", "transactions", "memberships"])
    for line in lines:
        w.writerow([line["debtor_name"], line["creditor_name"], _yuan(line["principal_fen"]), _yuan(line["bonus_fen"]),
                    _yuan(line["total_fen"]), " ".join(map(str, line["transactions"])),
                    " ".join(map(str, line.get("memberships", [])))])
    w.writerow([])
    w.writerow(["debtor", "creditor", "store_of_issue", "store_of_sale", "principal_yuan", "bonus_yuan"])
    for line in lines:
        for s in line.get("stores", []):
            w.writerow([line["debtor_name"], line["creditor_name"], s["issued_at"] or "", s["sold_at"],
                        _yuan(s["principal_fen"]), _yuan(s["bonus_fen"])])
    return buf.getvalue()


def export_xlsx(lines: list[dict], period: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    wb = Workbook()
    ws = wb.active
    ws.title = f"settlement {period}"
    ws.append(["应付方 debtor", "应收方 creditor", "本金 principal (元)", "赠送 bonus (元)", "合计 total (元)",
               "交易 transactions", "付费会员 memberships"])
    for line in lines:
        ws.append([line["debtor_name"], line["creditor_name"], line["principal_fen"] / 100, line["bonus_fen"] / 100,
                   line["total_fen"] / 100, " ".join(map(str, line["transactions"])),
                   " ".join(map(str, line.get("memberships", [])))])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    per_store = wb.create_sheet("by store")
    per_store.append(["应付方 debtor", "应收方 creditor", "充值门店 store of issue", "消费门店 store of sale",
                      "本金 principal (元)", "赠送 bonus (元)"])
    for line in lines:
        for s in line.get("stores", []):
            per_store.append([line["debtor_name"], line["creditor_name"], s["issued_at"] or "", s["sold_at"],
                              s["principal_fen"] / 100, s["bonus_fen"] / 100])
    for cell in per_store[1]:
        cell.font = Font(bold=True)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


# ---------------------------------------------------------------- outstanding liability

def liability(session: Session, as_of: date, settings: Settings) -> list[dict]:
    """Unspent stored value at the end of ``as_of`` (merchant time), principal and bonus
    apart, per owner and store of issue: what the shops still owe their members."""
    cutoff = to_utc_naive(datetime.combine(as_of + timedelta(days=1), time(), settings.tz))
    names = owner_names(session, settings.brand_name)
    stores = {s.id: s for s in session.scalars(select(Store))}
    rows = session.execute(
        select(ValueLot.store_id, func.sum(ValueMovement.principal), func.sum(ValueMovement.bonus))
        .join(ValueLot, ValueLot.id == ValueMovement.lot_id)
        .join(LedgerEntry, LedgerEntry.id == ValueMovement.entry_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerEntry.created_at < cutoff)
        .group_by(ValueLot.store_id)).all()
    out = []
    for store_id, principal, bonus in rows:
        store = stores.get(store_id)
        owner = owner_of(store)
        out.append({"owner": owner, "owner_name": names.get(owner, owner),
                    "store_code": store.code if store else None, "store_name": store.name if store else None,
                    "principal_fen": int(principal or 0), "bonus_fen": int(bonus or 0),
                    "total_fen": int(principal or 0) + int(bonus or 0)})
    return sorted(out, key=lambda r: (r["owner"], r["store_code"] or ""))


def create_franchisee(session: Session, *, code: str, name: str, store_codes: tuple[str, ...] = ()) -> Franchisee:
    """A franchisee and the franchise stores it owns."""
    code = code.strip().upper()
    if not code or not name.strip():
        raise DomainError(N_("a franchisee needs a code and a name"), code="invalid_franchisee")
    if session.scalar(select(Franchisee.id).where(Franchisee.code == code)) is not None:
        raise DomainError(N_("a franchisee with this code exists"), code="franchisee_exists")
    owner = Franchisee(code=code, name=name.strip())
    session.add(owner)
    session.flush()
    for store_code in store_codes:
        assign_store(session, owner, store_code)
    return owner


def assign_store(session: Session, owner: Franchisee | None, store_code: str) -> Store:
    store = session.scalar(select(Store).where(Store.code == store_code.strip().upper()))
    if store is None:
        raise DomainError(f"no store {store_code}", code="store_not_found", status=404)
    if owner is not None and store.kind != "franchise":
        raise DomainError(N_("only a franchise store belongs to a franchisee"), code="not_a_franchise_store")
    store.franchisee_id = owner.id if owner else None
    session.flush()
    return store
