"""Segments: a filter over members' profile and behaviour, computed set-based (one SELECT
of member ids, never a loop over members).

A filter is a list of conditions, all of which must hold:
    [{"field": "tier", "op": "in", "value": ["gold"]},
     {"field": "monetary_fen", "op": ">=", "value": 50000, "window_days": 90},
     {"field": "rfm_class", "op": "in", "value": ["lapsing"]}]

Behaviour is read from the sales (net of refunds) and the ledgers; RFM classes use the
thresholds in ``rfm``. ``FIELDS`` is exported for the console's builder and the API.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, case, exists, extract, false, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from wxcrm.campaigns import rfm
from wxcrm.errors import N_, DomainError
from wxcrm.ledger.models import LedgerAccount
from wxcrm.members.models import GENDERS, GroupAccount, Member, Store, Tier
from wxcrm.messages.massquota import MASS_PER_MONTH, mass_month
from wxcrm.messages.models import MassSendCount
from wxcrm.sales.models import Transaction, TransactionItem
from wxcrm.sales.queries import signed_payable

AGE_GROUPS = {"under_25": (0, 24), "25_34": (25, 34), "35_44": (35, 44), "45_54": (45, 54), "55_plus": (55, 150)}
MAX_CONDITIONS = 20


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    group: str          # profile | behaviour
    kind: str           # choice | number | bool | text
    ops: tuple[str, ...]
    choices: tuple[str, ...] = ()
    window: bool = False    # takes window_days


FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("tier", N_("Tier"), "profile", "choice", ("in",)),
    Field("gender", N_("Gender"), "profile", "choice", ("in",), GENDERS),
    Field("age_group", N_("Age group"), "profile", "choice", ("in",), tuple(AGE_GROUPS)),
    Field("district", N_("District"), "profile", "choice", ("in",)),
    Field("occupation", N_("Occupation"), "profile", "choice", ("in",)),
    Field("education", N_("Education"), "profile", "choice", ("in",)),
    Field("income_band", N_("Income band"), "profile", "choice", ("in",)),
    Field("home_store", N_("Home store"), "profile", "choice", ("in",)),
    Field("group", N_("Group"), "profile", "choice", ("in",)),
    Field("birthday_month", N_("Birthday month"), "profile", "choice", ("in",), tuple(str(m) for m in range(1, 13))),
    Field("tenure_days", N_("Days since joining"), "profile", "number", (">=", "<=")),
    Field("followed", N_("Follows the account"), "profile", "bool", ("==",)),
    Field("marketing_consent", N_("Marketing consent"), "behaviour", "bool", ("==",)),
    Field("recency_days", N_("Days since the last purchase"), "behaviour", "number", (">=", "<=")),
    Field("frequency", N_("Purchases"), "behaviour", "number", (">=", "<="), window=True),
    Field("monetary_fen", N_("Spend (fen)"), "behaviour", "number", (">=", "<="), window=True),
    Field("category", N_("Bought a category"), "behaviour", "text", ("in",), window=True),
    Field("points_balance", N_("Points balance"), "behaviour", "number", (">=", "<=")),
    Field("stored_value_fen", N_("Stored value (fen)"), "behaviour", "number", (">=", "<=")),
    Field("rfm_class", N_("RFM class"), "behaviour", "choice", ("in",), tuple(rfm.CLASSES)),
)}


def validate(filters) -> list[dict]:
    """The filter, checked: a list of known fields with their operators and values."""
    if not isinstance(filters, list) or len(filters) > MAX_CONDITIONS:
        raise DomainError(f"a segment is a list of at most {MAX_CONDITIONS} conditions", code="segment_filters")
    clean = []
    for i, cond in enumerate(filters):
        if not isinstance(cond, dict) or cond.get("field") not in FIELDS:
            raise DomainError(f"condition {i + 1}: unknown field", code="segment_field", fields={f"{i}": "field"})
        spec = FIELDS[cond["field"]]
        op = cond.get("op") or spec.ops[0]
        if op not in spec.ops:
            raise DomainError(f"condition {i + 1}: {spec.name} takes {', '.join(spec.ops)}", code="segment_op")
        value = cond.get("value")
        try:
            if spec.kind in ("choice", "text"):
                value = [str(v).strip() for v in (value if isinstance(value, list) else [value]) if str(v).strip()]
                if not value or len(value) > 200:
                    raise ValueError
                if spec.choices and any(v not in spec.choices for v in value):
                    raise ValueError
            elif spec.kind == "number":
                value = int(value)
                if abs(value) > 10 ** 12:
                    raise ValueError
            else:
                value = value in (True, "true", "1", 1, "yes")
        except (TypeError, ValueError):
            raise DomainError(f"condition {i + 1}: a value {spec.name} cannot take", code="segment_value",
                              fields={f"{i}": "value"}) from None
        item = {"field": spec.name, "op": op, "value": value}
        if spec.window:
            try:
                window = int(cond.get("window_days") or 365)
            except (TypeError, ValueError):
                window = -1
            if not 1 <= window <= 3650:
                raise DomainError(f"condition {i + 1}: window_days is 1..3650", code="segment_value")
            item["window_days"] = window
        clean.append(item)
    return clean


def _compare(expr, op: str, value):
    return expr >= value if op == ">=" else expr <= value if op == "<=" else expr == value


def _years_ago(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


def _purchases(windows: set[int | None], today: date):
    """Per member, in one pass over the sales: the last purchase date (with None in
    ``windows``), and for each window purchases and net spend (``visits_{w}``, ``spend_{w}``;
    0 for a member whose sales all fall before it, as the callers' COALESCE reads NULL)."""
    where = [Transaction.member_id.is_not(None)]
    columns = [Transaction.member_id.label("member_id")]
    if None in windows:
        columns.append(func.max(Transaction.business_date).label("last_date"))
    days = sorted(w for w in windows if w)
    if days and None not in windows:       # only windows: the sales before the widest are not read
        where.append(Transaction.business_date > today - timedelta(days=days[-1]))
    for w in days:
        inside = Transaction.business_date > today - timedelta(days=w)
        columns += [func.sum(case((and_(inside, Transaction.kind == "purchase"), 1), else_=0)).label(f"visits_{w}"),
                    func.sum(case((inside, signed_payable()), else_=0)).label(f"spend_{w}")]
    return select(*columns).where(*where).group_by(Transaction.member_id)


class _Stats:
    """A window's columns of the shared purchases subquery."""

    def __init__(self, sub, window_days: int | None):
        self.last_date = sub.c.last_date if window_days is None else None
        self.visits = sub.c[f"visits_{window_days}"] if window_days else None
        self.spend = sub.c[f"spend_{window_days}"] if window_days else None


class _Builder:
    """One SELECT: members LEFT JOINed once to each aggregate the conditions need (one
    purchases subquery for every window, ledger balances), so the database computes each
    once for the whole set and reads the sales once."""

    def __init__(self, today: date, thresholds: dict[str, int], filters: list[dict] = ()):
        self.today, self.thresholds = today, thresholds
        self.joins: dict[tuple, tuple] = {}
        self.windows: set[int | None] = set()
        for cond in filters:           # the windows the purchases subquery must carry
            if cond["field"] == "recency_days":
                self.windows.add(None)
            elif cond["field"] in ("frequency", "monetary_fen"):
                self.windows.add(cond["window_days"])
            elif cond["field"] == "rfm_class":
                self.windows |= {None, thresholds["window_days"]}

    def stats(self, window_days: int | None) -> _Stats:
        if ("purchases",) not in self.joins:
            sub = _purchases(self.windows | {window_days}, self.today).subquery("purchases")
            self.joins[("purchases",)] = (sub, sub.c.member_id == Member.id)
        return _Stats(self.joins[("purchases",)][0], window_days)

    def balance(self, kind: str):
        key = ("balance", kind)
        if key not in self.joins:
            account = aliased(LedgerAccount, name=f"account_{kind}")
            self.joins[key] = (account, and_(account.member_id == Member.id, account.kind == kind))
        return func.coalesce(self.joins[key][0].balance, 0)

    def condition(self, cond: dict):
        f, op, v = cond["field"], cond["op"], cond["value"]
        today = self.today
        if f == "tier":
            return Member.tier_id.in_(select(Tier.id).where(Tier.code.in_(v)))
        if f in ("gender", "district", "occupation", "education", "income_band"):
            return getattr(Member, f).in_(v)
        if f == "home_store":
            return Member.home_store_id.in_(select(Store.id).where(Store.code.in_(v)))
        if f == "group":
            return Member.group_id.in_(select(GroupAccount.id).where(GroupAccount.code.in_(v)))
        if f == "age_group":
            ranges = []
            for band in v:
                young, old = AGE_GROUPS[band]
                ranges.append(and_(Member.birthday <= _years_ago(today, young),
                                   Member.birthday > _years_ago(today, old + 1)))
            return and_(Member.birthday.is_not(None), or_(*ranges))
        if f == "birthday_month":
            return extract("month", Member.birthday).in_([int(m) for m in v])
        if f == "tenure_days":      # joined at least / at most N days ago
            day = today - timedelta(days=v)
            return Member.joined_on <= day if op == ">=" else Member.joined_on >= day
        if f == "followed":
            return Member.followed.is_(True) if v else Member.followed.is_(False)
        if f == "marketing_consent":
            return Member.marketing_consent.is_(True) if v else Member.marketing_consent.is_(False)
        if f == "recency_days":
            last = self.stats(None).last_date
            day = today - timedelta(days=v)
            # "at least N days ago" includes members who never bought
            return or_(last <= day, last.is_(None)) if op == ">=" else last >= day
        if f in ("frequency", "monetary_fen"):
            stats = self.stats(cond["window_days"])
            return _compare(func.coalesce(stats.visits if f == "frequency" else stats.spend, 0), op, v)
        if f == "category":
            since = today - timedelta(days=cond["window_days"])
            return exists(select(TransactionItem.id)
                          .join(Transaction, Transaction.id == TransactionItem.transaction_id)
                          .where(Transaction.member_id == Member.id, Transaction.kind == "purchase",
                                 Transaction.business_date > since, TransactionItem.category.in_(v)))
        if f == "points_balance":
            return _compare(self.balance("points"), op, v)
        if f == "stored_value_fen":
            return _compare(self.balance("stored_value"), op, v)
        if f == "rfm_class":
            t = self.thresholds
            window = self.stats(t["window_days"])
            last = self.stats(None).last_date
            return or_(*[rfm.class_condition(code, today, t, last=last,
                                             visits=func.coalesce(window.visits, 0),
                                             spend=func.coalesce(window.spend, 0)) for code in v]) \
                if v else false()
        raise DomainError(f"unknown field {f}", code="segment_field")


def member_ids_query(session: Session, filters: list[dict], today: date):
    """SELECT the ids of the active members matching every condition (one statement)."""
    clean = validate(filters)
    builder = _Builder(today, rfm.thresholds(session), clean)
    conditions = [builder.condition(c) for c in clean]
    source = Member.__table__
    for target, on in builder.joins.values():
        source = source.outerjoin(target, on)
    return select(Member.id).select_from(source).where(Member.status == "active", *conditions)


def size(session: Session, filters: list[dict], today: date) -> int:
    q = member_ids_query(session, filters, today).subquery()
    return session.scalar(select(func.count()).select_from(q)) or 0


def sample(session: Session, filters: list[dict], today: date, *, limit: int = 20) -> list[Member]:
    ids = member_ids_query(session, filters, today)
    return list(session.scalars(select(Member).where(Member.id.in_(ids)).order_by(Member.id.desc()).limit(limit)))


def reach(session: Session, filters: list[dict], today: date, now) -> dict[str, int]:
    """Who a marketing message to this segment can reach, and why not the rest (each member
    counted once, by the first channel that can carry it): WeChat mass (following, with a
    mass send left this month), SMS (a mobile number), or none: no consent; following but
    the month's four mass sends used and no phone; not following and no phone."""
    ids = member_ids_query(session, filters, today).subquery()
    month = mass_month(now)
    used = select(MassSendCount.sent).where(MassSendCount.member_id == Member.id,
                                            MassSendCount.month == month).scalar_subquery()
    wechat = and_(Member.openid.is_not(None), Member.followed.is_(True))
    mass_left = func.coalesce(used, 0) < MASS_PER_MONTH
    has_phone = and_(Member.phone.is_not(None), Member.phone != "")
    bucket = case(
        (Member.marketing_consent.is_not(True), literal("no_consent")),
        (and_(wechat, mass_left), literal("wechat")),
        (has_phone, literal("sms")),
        (wechat, literal("mass_used_no_phone")),
        else_=literal("no_wechat_no_phone"))
    rows = session.execute(select(bucket.label("b"), func.count()).select_from(Member)
                           .where(Member.id.in_(select(ids.c.id))).group_by(bucket)).all()
    out = {"wechat": 0, "sms": 0, "no_consent": 0, "mass_used_no_phone": 0, "no_wechat_no_phone": 0}
    out.update({b: int(n) for b, n in rows})
    out["total"] = sum(out.values())
    out["reachable"] = out["wechat"] + out["sms"]
    return out


EXPORT_COLUMNS = ("card_no", "name", "gender", "tier", "home_store", "district", "joined_on", "followed",
                  "marketing_consent")


def export_csv(session: Session, filters: list[dict], today: date) -> str:
    """The segment's members as CSV (no phone numbers or openids: an export leaves the system)."""
    ids = member_ids_query(session, filters, today)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    rows = session.execute(select(Member.card_no, Member.name, Member.gender, Tier.code, Store.code, Member.district,
                                  Member.joined_on, Member.followed, Member.marketing_consent)
                           .outerjoin(Tier, Tier.id == Member.tier_id).outerjoin(Store, Store.id == Member.home_store_id)
                           .where(Member.id.in_(ids)).order_by(Member.id)).all()
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()
