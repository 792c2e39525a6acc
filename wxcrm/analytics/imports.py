"""Data in: a shop moving from another system imports members, points balances (as lots with
their expiry), stored value and past transactions from CSV or XLSX.

Each kind reads its columns by English or Chinese header (:data:`COLUMNS`), checks every row
and says what is wrong with each bad one; a dry run stops there and writes nothing. An import
writes the good rows and records each under its key in ``analytics_import_rows``, so a re-run
finds them and changes nothing. Imported members are migrations: no signup rule, welcome
message or referral fires (nothing here calls the benefits); every point and fen goes
through the ledger, so the audit is clean afterwards.
"""
from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from wxcrm.analytics.models import ImportRow
from wxcrm.config import Settings
from wxcrm.errors import N_, DomainError
from wxcrm.ledger import service as ledger
from wxcrm.members import service as members
from wxcrm.members.models import Member, Store, Tier
from wxcrm.money import yuan_str_to_fen
from wxcrm.sales.models import Transaction, TransactionItem
from wxcrm.timeutil import to_utc_naive, utcnow

KINDS = ("members", "points", "stored-value", "transactions")
# Canonical column -> the headers accepted for it (English, then Chinese). "*" marks a required column.
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "members": {
        "phone*": ("phone", "手机号", "手机"), "card_no": ("card_no", "会员卡号", "卡号"), "name": ("name", "姓名"),
        "gender": ("gender", "性别"), "birthday": ("birthday", "生日", "出生日期"),
        "district": ("district", "区域", "地区"), "occupation": ("occupation", "职业"),
        "education": ("education", "学历"), "income_band": ("income_band", "收入"),
        "home_store": ("home_store", "门店", "所属门店"), "tier": ("tier", "等级", "会员等级"),
        "joined_on": ("joined_on", "入会日期", "注册日期"), "privacy_consent*": ("privacy_consent", "隐私同意"),
        "marketing_consent": ("marketing_consent", "营销同意"),
    },
    "points": {
        "member*": ("member", "card_no", "phone", "会员", "会员卡号", "手机号"), "points*": ("points", "积分"),
        "expires_on*": ("expires_on", "到期日", "有效期至"), "ref": ("ref", "编号", "流水号"),
    },
    "stored-value": {
        "member*": ("member", "card_no", "phone", "会员", "会员卡号", "手机号"), "amount*": ("amount", "金额", "余额"),
        "ref": ("ref", "编号", "流水号"),
    },
    "transactions": {
        "ref*": ("ref", "原单号", "单号"), "member": ("member", "card_no", "phone", "会员", "会员卡号", "手机号"),
        "store*": ("store", "门店", "门店编码"), "time*": ("time", "时间", "交易时间"),
        "amount*": ("amount", "金额", "实付金额"), "kind": ("kind", "类型"), "sku": ("sku", "商品编码"),
        "category": ("category", "品类"), "qty": ("qty", "数量"),
    },
}
YES = {"1", "y", "yes", "true", "是", "同意", "已同意"}
GENDERS = {"male": "male", "男": "male", "m": "male", "female": "female", "女": "female", "f": "female",
           "": "unknown", "unknown": "unknown", "未知": "unknown"}
KINDS_OF_SALE = {"": "purchase", "purchase": "purchase", "消费": "purchase", "refund": "refund", "退货": "refund",
                 "退款": "refund"}


@dataclass
class BadRow:
    line: int           # the row's line in the file (the header is line 1)
    reason: str         # N_() text; ``params`` fill it
    params: dict = field(default_factory=dict)


@dataclass
class ImportReport:
    kind: str
    rows: int = 0
    imported: int = 0
    already: int = 0     # imported by an earlier run: left as they are
    bad: list[BadRow] = field(default_factory=list)
    dry_run: bool = True


class RowError(Exception):
    def __init__(self, reason: str, **params) -> None:
        super().__init__(reason)
        self.reason, self.params = reason, params


def read_rows(path: str | Path, data: bytes | None = None) -> Iterator[dict[str, str]]:
    """The file's rows as {header: text}: CSV (UTF-8, with or without BOM, or GB18030) or XLSX."""
    name = str(path).lower()
    if name.endswith(".xlsx"):
        from openpyxl import load_workbook
        wb = load_workbook(io.BytesIO(data) if data is not None else path, read_only=True, data_only=True)
        rows = wb.active.iter_rows(values_only=True)
        header = [str(h or "").strip() for h in next(rows, [])]
        for values in rows:
            yield {h: _text(v) for h, v in zip(header, values)}
        wb.close()
        return
    raw = data if data is not None else Path(path).read_bytes()
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        content = raw.decode("gb18030")
    for row in csv.DictReader(io.StringIO(content)):
        yield {(k or "").strip(): (v or "").strip() for k, v in row.items()}


def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _columns(kind: str, header: list[str]) -> dict[str, str]:
    """Canonical column -> the file's header; a required one missing is a file-level error."""
    found = {}
    for canonical, names in COLUMNS[kind].items():
        key = canonical.rstrip("*")
        match = next((h for h in header if h.strip().lower() in {n.lower() for n in names}), None)
        if match is not None:
            found[key] = match
        elif canonical.endswith("*"):
            raise DomainError(N_("the file has no %(column)s column"), code="import_missing_column",
                              params={"column": names[0]})
    return found


def _day(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value.replace("/", "-")[:10])
    except ValueError:
        raise RowError(N_("%(what)s is not a date (YYYY-MM-DD): %(value)s"), what=what, value=value) from None


def _fen(value: str) -> int:
    try:
        fen = yuan_str_to_fen(value)
    except (ValueError, ArithmeticError):
        raise RowError(N_("the amount is not money in yuan: %(value)s"), value=value) from None
    if fen <= 0:
        raise RowError(N_("the amount must be more than zero: %(value)s"), value=value)
    return fen


def _member(session: Session, ref: str) -> Member:
    if not ref:
        raise RowError(N_("no member given"))
    member = session.scalar(select(Member).where(or_(Member.card_no == ref, Member.phone == ref)))
    if member is None:
        raise RowError(N_("no member with card or phone %(value)s"), value=ref)
    return member


def _key(kind: str, row: dict, cols: dict, *keys: str) -> str:
    """The row's identity: its own reference, or a digest of what it says."""
    if "ref" in cols and row.get(cols["ref"]):
        return row[cols["ref"]][:128]
    text = "|".join(row.get(cols.get(k, ""), "") for k in keys)
    return "sha1:" + hashlib.sha1(text.encode()).hexdigest()


# ------------------------------------------------------------------ one row of each kind

def _member_row(session: Session, settings: Settings, row: dict, cols: dict, write: bool, seen: set) -> str:
    get = lambda k: row.get(cols[k], "") if k in cols else ""  # noqa: E731
    phone = get("phone")
    if not members.PHONE_RE.fullmatch(phone):
        raise RowError(N_("phone must be an 11-digit mainland mobile number: %(value)s"), value=phone)
    if get("privacy_consent").lower() not in YES:
        raise RowError(N_("the member has not agreed to the privacy notice: no profile may be kept"))
    gender = GENDERS.get(get("gender").lower())
    if gender is None:
        raise RowError(N_("gender must be 男/女 (male/female) or empty: %(value)s"), value=get("gender"))
    today = date.today()
    joined = _day(get("joined_on"), "joined_on") if get("joined_on") else today
    birthday = _day(get("birthday"), "birthday") if get("birthday") else None
    if birthday and birthday > joined:
        raise RowError(N_("birthday is in the future: %(value)s"), value=get("birthday"))
    store = get("home_store")
    if store and session.scalar(select(Store.id).where(Store.code == store)) is None:
        raise RowError(N_("no store with code %(value)s"), value=store)
    tier_code = None
    if get("tier"):
        tier = session.scalar(select(Tier).where(or_(Tier.code == get("tier"), Tier.name == get("tier"))))
        if tier is None:
            raise RowError(N_("no tier %(value)s"), value=get("tier"))
        tier_code = tier.code
    card = get("card_no")
    if card and (not members.valid_card_no(card) or
                 session.scalar(select(Member.id).where(Member.card_no == card)) is not None):
        raise RowError(N_("card number %(value)s is not valid or already taken"), value=card)
    if session.scalar(select(Member.id).where(Member.phone == phone)) is not None:
        raise RowError(N_("a member with phone %(value)s already exists"), value=phone)
    if not write:
        return phone
    member = members.create_member(
        session, card_prefix=settings.card_prefix, today=joined, phone=phone, name=get("name"), gender=gender,
        birthday=birthday, district=get("district"), occupation=get("occupation"), education=get("education"),
        income_band=get("income_band"), home_store_code=store or None, tier_code=tier_code,
        privacy_version=settings.privacy_notice_version, marketing_consent=get("marketing_consent").lower() in YES)
    if card:
        member.card_no = card
    session.flush()
    return str(member.id)


def _points_row(session: Session, settings: Settings, row: dict, cols: dict, write: bool, seen: set) -> str:
    member = _member(session, row.get(cols["member"], ""))
    try:
        points = int(row.get(cols["points"], ""))
    except ValueError:
        raise RowError(N_("points must be a whole number: %(value)s"), value=row.get(cols["points"], "")) from None
    if points <= 0:
        raise RowError(N_("points must be more than zero: %(value)s"), value=str(points))
    expires = _day(row.get(cols["expires_on"], ""), "expires_on")
    if expires < date.today():
        raise RowError(N_("these points expired on %(value)s"), value=expires.isoformat())
    if write:
        ledger.earn_points(session, member.id, points, ledger.Cause(
            "import", ref=_key("points", row, cols, "member", "points", "expires_on"),
            text_zh=f"迁移导入 {points} 积分", text_en=f"{points} points imported"),
            today=date.today(), expires_on=expires)
    return str(member.id)


def _value_row(session: Session, settings: Settings, row: dict, cols: dict, write: bool, seen: set) -> str:
    member = _member(session, row.get(cols["member"], ""))
    fen = _fen(row.get(cols["amount"], ""))
    if write:
        ledger.credit_value(session, member.id, fen, ledger.Cause(
            "import", ref=_key("stored-value", row, cols, "member", "amount"),
            text_zh=f"迁移导入储值 {fen / 100:.2f} 元", text_en=f"Stored value imported: {fen / 100:.2f} yuan"))
    return str(member.id)


def _transaction_row(session: Session, settings: Settings, row: dict, cols: dict, write: bool, seen: set) -> str:
    get = lambda k: row.get(cols[k], "") if k in cols else ""  # noqa: E731
    ref = get("ref")
    store_id = session.scalar(select(Store.id).where(Store.code == get("store")))
    if store_id is None:
        raise RowError(N_("no store with code %(value)s"), value=get("store"))
    try:
        moment = datetime.fromisoformat(get("time").replace("/", "-"))
    except ValueError:
        raise RowError(N_("%(what)s is not a date (YYYY-MM-DD): %(value)s"), what="time", value=get("time")) from None
    if isinstance(moment, datetime) and len(get("time")) <= 10:
        moment = datetime.combine(moment.date(), time(12, 0))
    local = moment.replace(tzinfo=settings.tz) if moment.tzinfo is None else moment.astimezone(settings.tz)
    if local.date() > datetime.now(settings.tz).date():
        raise RowError(N_("the sale is in the future: %(value)s"), value=get("time"))
    kind = KINDS_OF_SALE.get(get("kind").lower())
    if kind is None:
        raise RowError(N_("kind must be 消费 (purchase) or 退货 (refund): %(value)s"), value=get("kind"))
    fen = _fen(get("amount"))
    member = _member(session, get("member")) if get("member") else None
    try:
        qty = int(get("qty") or 1)
    except ValueError:
        raise RowError(N_("quantity must be a whole number: %(value)s"), value=get("qty")) from None
    if qty <= 0:
        raise RowError(N_("quantity must be a whole number: %(value)s"), value=get("qty"))
    if not write:
        return ref
    at = to_utc_naive(local)
    txn = Transaction(kind=kind, store_id=store_id, member_id=member.id if member else None,
                      payment_method="imported", total_fen=fen, payable_fen=fen, business_date=local.date(),
                      created_at=at, recorded_at=utcnow(),
                      receipt={"imported": ref})
    session.add(txn)
    session.flush()
    session.add(TransactionItem(transaction_id=txn.id, line_no=1, sku=get("sku") or "IMPORTED",
                                category=get("category"), qty=qty, unit_price_fen=fen // qty, amount_fen=fen))
    session.flush()
    return str(txn.id)


HANDLERS: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "members": (_member_row, ("phone",)),
    "points": (_points_row, ("member", "points", "expires_on")),
    "stored-value": (_value_row, ("member", "amount")),
    "transactions": (_transaction_row, ("ref",)),
}


def run_import(session: Session, settings: Settings, kind: str, rows: Iterator[dict[str, str]], *,
               dry_run: bool, progress: Callable[[int], None] | None = None,
               commit: Callable[[], None] | None = None) -> ImportReport:
    """Check (and, unless ``dry_run``, import) every row. A bad row is reported and skipped; a
    row imported before is counted and left. ``commit`` is called every few hundred rows."""
    if kind not in KINDS:
        raise DomainError(N_("unknown import kind"), code="import_kind")
    handler, key_cols = HANDLERS[kind]
    report = ImportReport(kind, dry_run=dry_run)
    cols: dict[str, str] | None = None
    seen: set = set()
    for line, row in enumerate(rows, start=2):
        if cols is None:
            cols = _columns(kind, list(row))
        if not any(row.values()):
            continue
        report.rows += 1
        key = row.get(cols["phone"], "") if kind == "members" else _key(kind, row, cols, *key_cols)
        duplicate = key in seen
        seen.add(key)
        if duplicate:
            report.bad.append(BadRow(line, N_("this row appears twice in the file: %(value)s"), {"value": key}))
        elif session.scalar(select(ImportRow.id).where(ImportRow.kind == kind, ImportRow.key == key)) is not None:
            report.already += 1
        else:
            try:
                # Each handler checks the whole row before it writes anything, so a bad row leaves no trace.
                target = handler(session, settings, row, cols, not dry_run, seen)
                if not dry_run:
                    session.add(ImportRow(kind=kind, key=key, target_id=int(target) if target.isdigit() else None))
                    session.flush()
                report.imported += 1
            except RowError as exc:
                report.bad.append(BadRow(line, exc.reason, exc.params))
            except DomainError as exc:
                report.bad.append(BadRow(line, exc.detail, exc.params))
        if progress:
            progress(1)
        if commit and not dry_run and report.rows % 500 == 0:
            commit()
    if cols is None:
        raise DomainError(N_("the file has no rows"), code="import_empty")
    return report
