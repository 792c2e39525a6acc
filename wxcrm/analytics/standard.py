"""Standard reports: one registry, each report a title, its columns and a function that yields
its rows for a date range, stores and a period (day, week, month). The console lists what is
registered; CSV and XLSX exports stream any of them.

To add a report (stored value settlement, coupons issued and redeemed when their packages
land): write its rows function here, reading that package's tables (or a rollup of them),
and ``register(Report(...))`` it; the console page, the exports and the bench pick it up.
"""
from __future__ import annotations

import csv
import io
import itertools
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from wxcrm.analytics.models import LedgerDaily, SalesDaily
from wxcrm.analytics.reports import Filters, local_range_bounds, rollup_rows, time_key
from wxcrm.analytics.rollup import _moment
from wxcrm.coupons.models import Coupon, CouponTemplate
from wxcrm.errors import N_, DomainError
from wxcrm.ledger.models import LedgerAccount
from wxcrm.members.models import Member, Store
from wxcrm.timeutil import to_local

PERIODS = ("day", "week", "month")


@dataclass(frozen=True)
class Column:
    key: str
    label: str          # N_(): the caller translates
    kind: str = "int"   # text | int | fen


@dataclass(frozen=True)
class Report:
    code: str
    title: str
    columns: tuple[Column, ...]
    rows: Callable[[Session, Filters, str], Iterable[list]]
    detail: bool = False   # one row per record (no period): may be long; exported rather than shown whole
    description: str = ""
    waits_for: str = ""


REPORTS: dict[str, Report] = {}


def register(report: Report) -> Report:
    REPORTS[report.code] = report
    return report


def get(code: str) -> Report:
    if code not in REPORTS:
        raise DomainError(N_("no such report"), code="report_not_found")
    return REPORTS[code]


def _store_names(session: Session) -> dict[int, str]:
    return {sid: f"{code} {name}" for sid, code, name in session.execute(select(Store.id, Store.code, Store.name))}


def _stores(q, col, f: Filters):
    return q.where(col.in_(f.store_ids)) if f.store_ids else q


# ------------------------------------------------------------------ new members

def new_members_rows(session: Session, f: Filters, period: str) -> Iterator[list]:
    names = _store_names(session)
    q = (select(Member.joined_on, Member.home_store_id, func.count(Member.id))
         .where(Member.joined_on >= f.start, Member.joined_on <= f.end)
         .group_by(Member.joined_on, Member.home_store_id))
    q = _stores(q, Member.home_store_id, f)
    if f.tier_ids:
        q = q.where(Member.tier_id.in_(f.tier_ids))
    cells: dict[tuple, int] = defaultdict(int)
    for day, store_id, n in session.execute(q):
        cells[(time_key(period, day), store_id or 0)] += int(n)
    for (p, store_id), n in sorted(cells.items()):
        yield [p, names.get(store_id, ""), n]


register(Report("new_members", N_("New members"), (
    Column("period", N_("Period"), "text"), Column("store", N_("Home store"), "text"),
    Column("new_members", N_("New members"))), new_members_rows,
    description=N_("Members who joined, by the day they joined and their home store.")))


# ------------------------------------------------------------------ transactions

def transactions_rows(session: Session, f: Filters, period: str) -> Iterator[list]:
    names = _store_names(session)
    q = select(SalesDaily.business_date, SalesDaily.store_id, func.sum(SalesDaily.purchases),
               func.sum(SalesDaily.refunds), func.sum(SalesDaily.gross_fen), func.sum(SalesDaily.refund_fen),
               func.sum(SalesDaily.points_earned), func.sum(SalesDaily.points_redeemed))
    cells: dict[tuple, list[int]] = defaultdict(lambda: [0] * 6)
    for day, store_id, *sums in rollup_rows(session, q, f, "all", SalesDaily.business_date, SalesDaily.store_id,
                                            daily=period != "month"):
        cell = cells[(time_key(period, day), store_id)]
        for i, v in enumerate(sums):
            cell[i] += int(v or 0)
    for (p, store_id), (purchases, refunds, gross, refund, earned, redeemed) in sorted(cells.items()):
        net = gross - refund
        yield [p, names.get(store_id, ""), purchases, refunds, gross, refund, net,
               net // purchases if purchases else 0, earned, redeemed]


register(Report("transactions", N_("Transactions"), (
    Column("period", N_("Period"), "text"), Column("store", N_("Store"), "text"),
    Column("purchases", N_("Purchases")), Column("refunds", N_("Refunds")),
    Column("gross_fen", N_("Sales"), "fen"), Column("refund_fen", N_("Refunded"), "fen"),
    Column("net_fen", N_("Net sales"), "fen"), Column("basket_fen", N_("Average basket"), "fen"),
    Column("points_earned", N_("Points earned")), Column("points_redeemed", N_("Points redeemed"))),
    transactions_rows, description=N_("Purchases and refunds per store, money paid, net of refunds.")))


# ------------------------------------------------------------------ ledgers

def _ledger_cells(session: Session, f: Filters, period: str, kind: str) -> dict[tuple, dict[str, list[int]]]:
    q = (select(LedgerDaily.business_date, LedgerDaily.store_id, LedgerDaily.cause, func.sum(LedgerDaily.credit),
                func.sum(LedgerDaily.debit))
         .where(LedgerDaily.kind == kind, LedgerDaily.business_date >= f.start, LedgerDaily.business_date <= f.end)
         .group_by(LedgerDaily.business_date, LedgerDaily.store_id, LedgerDaily.cause))
    q = _stores(q, LedgerDaily.store_id, f)
    cells: dict[tuple, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for day, store_id, cause, credit, debit in session.execute(q):
        cell = cells[(time_key(period, day), store_id)][cause]
        cell[0] += int(credit or 0)
        cell[1] += int(debit or 0)
    return cells


def points_rows(session: Session, f: Filters, period: str) -> Iterator[list]:
    names = _store_names(session)
    for (p, store_id), causes in sorted(_ledger_cells(session, f, period, "points").items()):
        issued = sum(c[0] for cause, c in causes.items() if cause not in ("redeem_reversal",))
        redeemed = causes.get("redeem", [0, 0])[1] - causes.get("redeem_reversal", [0, 0])[0]
        expired = causes.get("expiry", [0, 0])[1]
        taken_back = causes.get("refund", [0, 0])[1]
        other = sum(c[1] for cause, c in causes.items() if cause not in ("redeem", "expiry", "refund"))
        yield [p, names.get(store_id, "") if store_id else "", issued, redeemed, expired, taken_back, other,
               issued - redeemed - expired - taken_back - other]


register(Report("points", N_("Points issued, redeemed and expired"), (
    Column("period", N_("Period"), "text"), Column("store", N_("Store"), "text"),
    Column("issued", N_("Issued")), Column("redeemed", N_("Redeemed")), Column("expired", N_("Expired")),
    Column("taken_back", N_("Taken back on refunds")), Column("other", N_("Other debits")),
    Column("net", N_("Net change"))), points_rows,
    description=N_("Points credited and debited, by the store of the sale (none: signup, rules, staff, expiry).")))


def stored_value_rows(session: Session, f: Filters, period: str) -> Iterator[list]:
    names = _store_names(session)
    # Outstanding at each period's end: what was held before the range, plus each period's net.
    before = int(session.scalar(select(func.coalesce(func.sum(LedgerDaily.credit - LedgerDaily.debit), 0)).where(
        LedgerDaily.kind == "stored_value", LedgerDaily.business_date < f.start)) or 0)
    rows = sorted(_ledger_cells(session, f, period, "stored_value").items())
    running = before
    for (p, store_id), causes in rows:
        credit = sum(c[0] for c in causes.values())
        debit = sum(c[1] for c in causes.values())
        running += credit - debit
        yield [p, names.get(store_id, "") if store_id else "", causes.get("topup", [0, 0])[0], credit, debit,
               running]


register(Report("stored_value", N_("Stored value topped up, spent and outstanding"), (
    Column("period", N_("Period"), "text"), Column("store", N_("Store"), "text"),
    Column("topped_up_fen", N_("Topped up"), "fen"), Column("credited_fen", N_("All credits"), "fen"),
    Column("spent_fen", N_("Spent and refunded"), "fen"), Column("outstanding_fen", N_("Outstanding after"), "fen")),
    stored_value_rows, description=N_("Stored-value ledger movements; the last column runs across stores.")))


def _settings(f: Filters):
    if f.settings is None:
        raise DomainError(N_("this report needs the merchant's settings"), code="report_needs_settings")
    return f.settings


# ------------------------------------------------------------------ coupons

def coupons_rows(session: Session, f: Filters, period: str) -> Iterator[list]:
    """Per period and coupon: issued (whenever and wherever the member got it), and used at
    the stores asked (a coupon given back by a refund is not counted as used)."""
    tz = _settings(f).tz
    a, b = local_range_bounds(f, tz)
    titles = {i: (code, zh) for i, code, zh in session.execute(
        select(CouponTemplate.id, CouponTemplate.code, CouponTemplate.title_zh))}
    cells: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for template_id, at in session.execute(select(Coupon.template_id, Coupon.issued_at)
                                           .where(Coupon.issued_at >= a, Coupon.issued_at < b)):
        cells[(time_key(period, to_local(_moment(at), tz).date()), template_id)][0] += 1
    used = (select(Coupon.template_id, Coupon.used_at, Coupon.discount_fen, Coupon.basket_fen)
            .where(Coupon.used_at >= a, Coupon.used_at < b, Coupon.status == "used"))
    used = _stores(used, Coupon.used_store_id, f)
    for template_id, at, discount, basket in session.execute(used):
        cell = cells[(time_key(period, to_local(_moment(at), tz).date()), template_id)]
        cell[1] += 1
        cell[2] += int(discount or 0)
        cell[3] += int(basket or 0)
    for (p, template_id), (issued, redeemed, discount, basket) in sorted(cells.items()):
        code, title = titles.get(template_id, ("", ""))
        yield [p, f"{code} {title}".strip(), issued, redeemed, discount, basket // redeemed if redeemed else 0,
               redeemed * 100 // issued if issued else 0]


register(Report("coupons", N_("Coupons issued and redeemed"), (
    Column("period", N_("Period"), "text"), Column("coupon", N_("Coupon"), "text"),
    Column("issued", N_("Issued")), Column("redeemed", N_("Redeemed")),
    Column("discount_fen", N_("Discount given"), "fen"), Column("basket_fen", N_("Average basket when used"), "fen"),
    Column("redeemed_pct", N_("Redeemed per 100 issued"))), coupons_rows,
    description=N_("Coupons issued in each period, and used (at the stores asked) in each period.")))


# ------------------------------------------------------------------ settlement

def settlement_rows(session: Session, f: Filters, period: str) -> Iterator[list]:
    """Per month (whatever the period asked: settlement is monthly) touching the range, who
    owes whom for stored value taken at one owner's store and spent at another's, per store
    of issue and store of sale; a closed month as it was closed."""
    from wxcrm.topups import settlement
    settings = _settings(f)
    codes = {code: sid for sid, code in session.execute(select(Store.id, Store.code))}
    names = _store_names(session)
    months = []
    month = f.start.replace(day=1)
    while month <= f.end:
        months.append(month.strftime("%Y-%m"))
        month = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    # None: before the last closed month and never closed itself: nothing to settle
    for key, lines in settlement.settlement_months(session, months, settings).items():
        for line in lines or ():
            for part in line.get("stores", []):
                issued, sold = codes.get(part["issued_at"]), codes.get(part["sold_at"])
                if f.store_ids and issued not in f.store_ids and sold not in f.store_ids:
                    continue
                yield [key, line["debtor_name"], line["creditor_name"], names.get(issued, ""),
                       names.get(sold, ""), part["principal_fen"], part["bonus_fen"],
                       part["principal_fen"] + part["bonus_fen"]]


register(Report("settlement", N_("Stored value settlement between owners"), (
    Column("period", N_("Month"), "text"), Column("debtor", N_("Owes"), "text"),
    Column("creditor", N_("Is owed"), "text"), Column("issued_at", N_("Store of top-up"), "text"),
    Column("sold_at", N_("Store of sale"), "text"), Column("principal_fen", N_("Principal"), "fen"),
    Column("bonus_fen", N_("Bonus"), "fen"), Column("total_fen", N_("Total"), "fen")), settlement_rows,
    description=N_("Stored value topped up at one owner's store (the brand's direct stores, a franchisee's) "
                   "and spent at another's, per month.")))


def outstanding(session: Session) -> dict[str, int]:
    """Points and stored value held right now (the accounts' balances)."""
    return {kind: int(v or 0) for kind, v in session.execute(
        select(LedgerAccount.kind, func.sum(LedgerAccount.balance)).group_by(LedgerAccount.kind))}


# ------------------------------------------------------------------ detail

def transaction_detail_rows(session: Session, f: Filters, period: str) -> Iterator[list]:
    """Every transaction of the range in date order, read a business day at a time: each day's
    rows come from the date index in id order (no sort of the range), so an export costs what
    it writes whatever the history holds, and a reader that stops early (the console shows
    the first 500 rows) leaves at most the rest of one day unread."""
    names = _store_names(session)
    where = ["t.business_date = :d"]
    if f.store_ids:
        where.append(f"t.store_id IN ({', '.join(str(int(i)) for i in f.store_ids)})")
    if f.tier_ids:
        where.append(f"m.tier_id IN ({', '.join(str(int(i)) for i in f.tier_ids)})")
    # The dates as text from the database: a DATE / DATETIME object per cell made by the driver
    # only to be written out as text cost a fifth of the export.
    q = text("SELECT t.id, CAST(t.business_date AS CHAR), CAST(t.created_at AS CHAR), t.kind, t.store_id, m.card_no, t.payment_method,"
             " t.total_fen, t.discount_fen, t.points_redeemed_fen, t.payable_fen, t.points_earned,"
             " t.points_redeemed FROM transactions t LEFT JOIN members m ON m.id = t.member_id"
             f" WHERE {' AND '.join(where)} ORDER BY t.id")
    connection = session.connection()
    day = f.start
    while day <= f.end:
        for (id_, on, at, kind, store_id, card_no, payment, total, discount, points_fen, payable, earned,
             redeemed) in connection.execute(q, {"d": day}).all():
            yield [id_, on[:10], at[:19], kind, names.get(store_id, ""), card_no or "", payment, total,
                   discount, points_fen, payable, earned, redeemed]
        day += timedelta(days=1)


register(Report("transaction_detail", N_("Transaction detail"), (
    Column("id", N_("Transaction")), Column("business_date", N_("Business date"), "text"),
    Column("created_at", N_("Time (UTC)"), "text"), Column("kind", N_("Kind"), "text"),
    Column("store", N_("Store"), "text"), Column("card_no", N_("Card number"), "text"),
    Column("payment_method", N_("Payment"), "text"), Column("total_fen", N_("Total"), "fen"),
    Column("discount_fen", N_("Discount"), "fen"), Column("points_redeemed_fen", N_("Paid with points"), "fen"),
    Column("payable_fen", N_("Paid"), "fen"), Column("points_earned", N_("Points earned")),
    Column("points_redeemed", N_("Points redeemed"))), transaction_detail_rows, detail=True,
    description=N_("Every transaction in the range, one row each: for exports.")))


# ------------------------------------------------------------------ export

def _cell(kind: str, value):
    if kind == "fen":
        return round(int(value) / 100, 2)
    return value


def csv_chunks(report: Report, rows: Iterable[list], headers: list[str]) -> Iterator[str]:
    """The report as CSV text, a chunk at a time (UTF-8 with a BOM: Excel reads Chinese then)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    buf.write("\ufeff")
    writer.writerow(headers)
    kinds = [c.kind for c in report.columns]
    for n, row in enumerate(rows, 1):
        writer.writerow([_cell(k, v) for k, v in zip(kinds, row)])
        if n % 2000 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


# Excel opens at most 1,048,576 rows a sheet (the header is one of them): a longer export goes
# on in another sheet of the same workbook, "title (2)", each with the header row.
SHEET_ROWS = 1_048_576


def _xlsx_package(headers: list[str], titles: list[str]) -> zipfile.ZipFile:
    """openpyxl's write-only workbook with these sheets, each holding only the bold header row:
    the package (workbook, styles, relations, content types) the rows are written into."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for title in titles:
        ws = wb.create_sheet(title)
        header_cells = []
        for h in headers:
            cell = WriteOnlyCell(ws, value=h)
            cell.font = bold
            header_cells.append(cell)
        ws.append(header_cells)
    package = io.BytesIO()
    wb.save(package)
    return zipfile.ZipFile(package)


def _sheet_titles(title: str, sheets: int) -> list[str]:
    names = [title[:31]]
    for k in range(2, sheets + 1):
        suffix = f" ({k})"
        names.append(title[:31 - len(suffix)] + suffix)
    return names


def write_xlsx(report: Report, rows: Iterable[list], headers: list[str], target, *, title: str = "",
               progress: Callable[[int], None] | None = None) -> int:
    """Write the report to ``target`` (a path or a binary file), streamed: openpyxl's
    write-only workbook makes the package (workbook, styles, the bold header row), and the
    rows go into its sheets as they come, as plain cells with no style of their own, written
    a few thousand at a time into the compressed entry (openpyxl's own writer builds an
    object per cell: a hundred thousand rows took it most of a minute). Past Excel's
    1,048,576 rows a sheet, the rows go on in the next sheet. Memory stays flat.
    Returns the rows written."""
    from openpyxl.utils import get_column_letter

    title = title or report.code
    with _xlsx_package(headers, [title]) as one:
        head, tail = one.read("xl/worksheets/sheet1.xml").split(b"</sheetData>", 1)
    kinds = [c.kind for c in report.columns]
    row_xml = _row_writer(kinds, [get_column_letter(i) for i in range(1, len(kinds) + 1)])
    n = sheets = 0
    rows = iter(rows)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        while True:
            first = next(rows, None)
            if first is None and sheets:
                break
            sheets += 1
            with out.open(f"xl/worksheets/sheet{sheets}.xml", "w", force_zip64=True) as sheet:
                sheet.write(head)
                chunk: list[str] = []
                r = told = 1                        # rows in this sheet, the header included
                for row in itertools.chain(() if first is None else (first,), rows):
                    r += 1
                    chunk.append(row_xml(r, row))
                    if r % 5000 == 0:
                        sheet.write("".join(chunk).encode())
                        chunk.clear()
                        if progress:
                            progress(r - told)
                            told = r
                    if r >= SHEET_ROWS:
                        break
                sheet.write("".join(chunk).encode())
                sheet.write(b"</sheetData>" + tail)
            n += r - 1
            if progress and r > told:
                progress(r - told)
            if r < SHEET_ROWS:
                break
        # The package's other parts, naming every sheet written (openpyxl writes its
        # content types last too).
        with _xlsx_package(headers, _sheet_titles(title, sheets)) as package:
            for info in package.infolist():
                if not info.filename.startswith("xl/worksheets/sheet"):
                    out.writestr(info, package.read(info))
    return n


# Escapes, and drops the control characters XML may not hold, in one pass.
_XML_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;",
                           **{c: None for c in (*range(0, 9), 11, 12, *range(14, 32))}})


def _row_writer(kinds: list[str], letters: list[str]) -> Callable[[int, list], str]:
    """A function writing one ``<row>`` of these columns: one format string for the whole
    row, numbers as numbers (money in yuan, two decimals), text as inline strings."""
    cells = []
    for i, (kind, letter) in enumerate(zip(kinds, letters), 1):
        if kind == "int":
            cells.append(f'<c r="{letter}{{0}}"><v>{{{i}}}</v></c>')
        elif kind == "fen":
            cells.append(f'<c r="{letter}{{0}}"><v>{{{i}:.2f}}</v></c>')
        else:
            cells.append(f'<c r="{letter}{{0}}" t="inlineStr"><is><t xml:space="preserve">{{{i}}}</t></is></c>')
    template = '<row r="{0}">' + "".join(cells) + "</row>"
    fen = [i for i, k in enumerate(kinds) if k == "fen"]
    text = [i for i, k in enumerate(kinds) if k not in ("int", "fen")]

    def write(r: int, row: list) -> str:
        values = list(row)
        if None in values:   # a missing figure: an empty cell, not "None"
            return _row_with_blanks(r, letters, kinds, values)
        for i in fen:
            values[i] = values[i] / 100
        for i in text:
            values[i] = str(values[i]).translate(_XML_TEXT)
        return template.format(r, *values)
    return write


def _row_with_blanks(r: int, letters: list[str], kinds: list[str], values: list) -> str:
    parts = [f'<row r="{r}">']
    for letter, kind, v in zip(letters, kinds, values):
        if v is None:
            continue
        if kind in ("int", "fen"):
            parts.append(f'<c r="{letter}{r}"><v>{v / 100 if kind == "fen" else v}</v></c>')
        else:
            parts.append(f'<c r="{letter}{r}" t="inlineStr"><is><t xml:space="preserve">'
                         f'{str(v).translate(_XML_TEXT)}</t></is></c>')
    parts.append("</row>")
    return "".join(parts)


def period_or_default(value: str | None) -> str:
    return value if value in PERIODS else "day"


def parse_day(value: str | None, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DomainError(N_("dates are written YYYY-MM-DD"), code="bad_date") from None
