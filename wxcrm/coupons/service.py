"""Coupon operations: design templates, issue coupons (every channel), read a wallet,
choose and redeem coupons at the till, give them back on a refund, remind before expiry.

Functions take a session and typed arguments, flush, never commit. Locks are taken in one
order everywhere: the member's row, then the template's row.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, joinedload

from wxcrm.config import Settings
from wxcrm.coupons import choice as chooser
from wxcrm.coupons.codes import new_code, normalise, pretty
from wxcrm.coupons.models import TYPES, Coupon, CouponTemplate
from wxcrm.errors import N_, Conflict, DomainError, NotFound
from wxcrm.ledger import service as ledger
from wxcrm.members.models import Member, Store, Tier
from wxcrm.messages import outbox
from wxcrm.money import fen_to_yuan_str
from wxcrm.sales.models import Transaction, TransactionBenefit
from wxcrm.timeutil import Clock

log = logging.getLogger(__name__)

RESTRICTION_LISTS = ("stores", "store_kinds", "skus_in", "skus_out", "categories_in", "categories_out", "tiers")
EXPIRY_REMINDER_DAYS = 3


# ---------------------------------------------------------------- templates

def template_by_code(session: Session, code: str, *, lock: bool = False) -> CouponTemplate:
    stmt = select(CouponTemplate).where(CouponTemplate.code == code)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    tpl = session.scalar(stmt)
    if tpl is None:
        raise NotFound(f"no coupon template {code}", code="coupon_template_not_found",
                       fields={"template": "unknown"}, params={"code": code})
    return tpl


def clean_restrictions(raw: dict | None) -> dict:
    """Only the known keys, lists of short strings; weekdays 1..7; hours [from, to)."""
    raw = raw or {}
    out: dict = {}
    for key in RESTRICTION_LISTS:
        values = [str(v).strip()[:64] for v in raw.get(key) or [] if str(v).strip()]
        if values:
            out[key] = sorted(set(values))
    days = sorted({int(d) for d in raw.get("weekdays") or []})
    if any(not 1 <= d <= 7 for d in days):
        raise DomainError(N_("weekdays are 1 (Monday) to 7 (Sunday)"), code="invalid_weekdays",
                          fields={"restrictions.weekdays": "1..7"})
    if days and len(days) < 7:
        out["weekdays"] = days
    hours = raw.get("hours")
    if hours:
        start, end = int(hours[0]), int(hours[1])
        if not 0 <= start < end <= 24:
            raise DomainError(N_("hours run from 0 to 24, the start before the end"), code="invalid_hours",
                              fields={"restrictions.hours": "0 <= from < to <= 24"})
        if (start, end) != (0, 24):
            out["hours"] = [start, end]
    return out


TEMPLATE_FIELDS = ("type", "title_zh", "title_en", "description_zh", "description_en", "color", "face_value_fen",
                   "percent_off", "cap_fen", "item_sku", "min_spend_fen", "valid_from", "valid_until", "valid_days",
                   "start_delay_days", "combinable", "with_points", "stock_total", "per_member_limit",
                   "points_price", "active")


def save_template(session: Session, data: dict, *, template: CouponTemplate | None = None) -> CouponTemplate:
    """Create a template (``data['code']`` unique) or change one. The type decides which
    figures it needs; the validity is fixed dates or a number of days from issue."""
    if template is None:
        code = data["code"]
        if session.scalar(select(CouponTemplate.id).where(CouponTemplate.code == code)) is not None:
            raise Conflict(f"coupon template {code} exists", code="coupon_template_exists",
                           fields={"code": "taken"}, params={"code": code})
        template = CouponTemplate(code=code, issued_count=0)
    values = {f: data[f] for f in TEMPLATE_FIELDS if f in data}
    merged = {f: values.get(f, getattr(template, f, None)) for f in TEMPLATE_FIELDS}
    _check_template(merged, issued=template.issued_count or 0)
    restrictions = clean_restrictions(data["restrictions"]) if "restrictions" in data else None
    _check_known(session, restrictions or {})
    for f, v in values.items():
        setattr(template, f, v)
    if restrictions is not None:
        template.restrictions = restrictions
    elif template.restrictions is None:
        template.restrictions = {}
    session.add(template)          # only once it is known to be sound
    session.flush()
    return template


def _check_template(t: dict, *, issued: int) -> None:
    kind = t["type"]
    if kind not in TYPES:
        raise DomainError(f"type must be one of {', '.join(TYPES)}", code="invalid_coupon_type", fields={"type": "invalid"})

    def need(ok: bool, field: str, message: str, code: str) -> None:
        if not ok:
            raise DomainError(message, code=code, fields={field: "required"})

    if kind in ("cash", "spend_get"):
        need((t["face_value_fen"] or 0) > 0, "face_value_fen", N_("a cash coupon needs a face value"),
             "coupon_needs_value")
    if kind == "spend_get":
        need((t["min_spend_fen"] or 0) > (t["face_value_fen"] or 0), "min_spend_fen",
             N_("spend X get Y off needs X above Y"), "coupon_needs_threshold")
    if kind == "percent":
        need(1 <= (t["percent_off"] or 0) <= 99, "percent_off", N_("a percentage coupon takes 1 to 99 percent off"),
             "coupon_needs_percent")
    if kind in ("gift", "free_item"):
        need(bool(t["item_sku"]), "item_sku", N_("a gift or free-item coupon names its item (SKU)"),
             "coupon_needs_item")
    need(bool(t["valid_until"]) or bool(t["valid_days"]), "valid_days",
         N_("a coupon needs an end date or a number of valid days"), "coupon_needs_validity")
    if t["valid_from"] and t["valid_until"] and t["valid_from"] > t["valid_until"]:
        raise DomainError(N_("the coupon's start date is after its end date"), code="coupon_dates_reversed",
                          fields={"valid_until": "before valid_from"})
    if t["stock_total"] is not None and t["stock_total"] < issued:
        raise DomainError(f"{issued} coupons are already issued: the stock cannot be lower",
                          code="coupon_stock_below_issued", fields={"stock_total": "below issued"},
                          params={"issued": issued})


def _check_known(session: Session, restrictions: dict) -> None:
    """Stores and tiers a coupon is limited to must exist (a typo would make it unusable)."""
    for key, model in (("stores", Store), ("tiers", Tier)):
        wanted = set(restrictions.get(key) or ())
        if wanted:
            known = set(session.scalars(select(model.code).where(model.code.in_(wanted))))
            if wanted - known:
                missing = ", ".join(sorted(wanted - known))
                raise DomainError(f"unknown {key}: {missing}", code=f"coupon_unknown_{key}",
                                  fields={f"restrictions.{key}": "unknown"}, params={"codes": missing})


# ---------------------------------------------------------------- issuing

def validity(template: CouponTemplate, today: date) -> tuple[date, date]:
    """First and last valid day of a coupon issued ``today``."""
    start = today + timedelta(days=template.start_delay_days or 0)
    if template.valid_from and template.valid_from > start:
        start = template.valid_from
    if template.valid_days:
        end = start + timedelta(days=template.valid_days - 1)
        if template.valid_until and template.valid_until < end:
            end = template.valid_until
    else:
        end = template.valid_until
    return start, end


def issue_coupon(session: Session, settings: Settings, *, template_code: str, member: Member, channel: str,
                 source_ref: str, clock: Clock, reason: str = "", staff_id: int | None = None,
                 rule_id: int | None = None, notify: bool = True) -> Coupon:
    """Issue one coupon of a template to a member. ``source_ref`` names what issued it and
    is unique: issuing again with the same one returns the first coupon. Stock and the
    per-member limit are checked under the template's row lock, so concurrent issues
    never oversell. A message tells the member (outbox, after commit)."""
    existing = session.scalar(select(Coupon).where(Coupon.source_ref == source_ref))
    if existing is not None:
        return existing
    session.execute(select(Member.id).where(Member.id == member.id).with_for_update())
    # Asked again under the member's lock: the same request sent twice at once (a double
    # tap) waited here for the first, which has committed its coupon by now.
    existing = session.scalar(select(Coupon).where(Coupon.source_ref == source_ref)
                              .execution_options(populate_existing=True))
    if existing is not None:
        return existing
    tpl = template_by_code(session, template_code, lock=True)
    if not tpl.active:
        raise DomainError(f"coupon template {tpl.code} is not active", code="coupon_template_inactive",
                          fields={"template": "inactive"}, params={"code": tpl.code})
    if member.status != "active":
        raise DomainError(N_("coupons go to active members only"), code="coupon_needs_member",
                          fields={"member": "not active"})
    if tpl.stock_total is not None and tpl.issued_count >= tpl.stock_total:
        raise Conflict(f"coupon template {tpl.code} is out of stock", code="coupon_out_of_stock",
                       params={"code": tpl.code})
    if tpl.per_member_limit is not None:
        held = session.scalar(select(func.count()).select_from(Coupon).where(
            Coupon.template_id == tpl.id, Coupon.member_id == member.id))
        if held >= tpl.per_member_limit:
            raise Conflict(f"the member already has {held} of coupon {tpl.code}", code="coupon_limit_reached",
                           params={"code": tpl.code, "limit": tpl.per_member_limit})
    start, end = validity(tpl, clock.today)
    if end < clock.today:
        raise DomainError(f"coupon template {tpl.code} has ended", code="coupon_template_ended",
                          params={"code": tpl.code})
    coupon = Coupon(code=new_code(), template_id=tpl.id, member_id=member.id, status="available",
                    channel=channel, reason=reason[:255], source_ref=source_ref[:128], rule_id=rule_id,
                    staff_id=staff_id, valid_from=start, valid_until=end, issued_at=clock.utc)
    session.add(coupon)
    tpl.issued_count += 1
    _count_held(session, member.id, +1)
    session.flush()
    if notify and (member.openid or member.phone):
        outbox.enqueue(session, settings, purpose="coupon_received", member=member,
                       text=f"您获得一张{tpl.title_zh}，有效期至{end.isoformat()}。",
                       fields={"coupon": tpl.title_zh[:20], "date": end.isoformat()},
                       dedup_key=f"coupon_received:{coupon.id}", now=clock.utc)
    return coupon


def issue_for_rule(session: Session, settings: Settings, member: Member, *, template_code: str, count: int,
                   cause: str, ref: str, rule_id: int | None, clock: Clock, channel: str = "rule") -> int:
    """A rule's ``issue_coupon`` action. Out of stock or over the member's limit the rule
    gives nothing more (logged); the purchase or event it belongs to goes on. ``channel``
    is ``scan`` when the rule gave it to a customer who claimed a receipt (scan-to-earn)."""
    issued = 0
    for n in range(max(count, 1)):
        try:
            with session.begin_nested():
                issue_coupon(session, settings, template_code=template_code, member=member, channel=channel,
                             source_ref=f"{cause}:{ref}:rule{rule_id}:{n}", clock=clock, rule_id=rule_id,
                             reason=f"rule {rule_id}")
            issued += 1
        except DomainError as exc:
            log.info("rule %s: coupon %s not issued to member %s: %s", rule_id, template_code, member.id, exc.code)
            break
    return issued


def _count_held(session: Session, member_id: int, change: int) -> None:
    """The member row's count of unused coupons, changed in SQL (no lost update); the
    loaded member reads it again when next asked."""
    session.execute(update(Member).where(Member.id == member_id)
                    .values(coupons_held=Member.coupons_held + change).execution_options(synchronize_session=False))
    loaded = session.identity_map.get(session.identity_key(Member, member_id))
    if loaded is not None:
        session.expire(loaded, ["coupons_held"])


# ---------------------------------------------------------------- the wallet

def member_coupons(session: Session, member_id: int, status: str, today: date, *, limit: int = 200) -> list[Coupon]:
    """A member's coupons: ``available`` (usable now or soon), ``used``, ``expired``."""
    stmt = select(Coupon).where(Coupon.member_id == member_id)
    if status == "available":
        stmt = stmt.where(Coupon.status == "available", Coupon.valid_until >= today).order_by(Coupon.valid_until)
    elif status == "used":
        stmt = stmt.where(Coupon.status == "used").order_by(Coupon.used_at.desc())
    elif status == "expired":
        stmt = stmt.where(Coupon.status == "available", Coupon.valid_until < today).order_by(
            Coupon.valid_until.desc())
    else:
        raise DomainError("status is available, used or expired", code="invalid_status")
    return list(session.scalars(stmt.limit(limit)))


def coupon_status(coupon: Coupon, today: date) -> str:
    if coupon.status == "available" and coupon.valid_until < today:
        return "expired"
    return coupon.status


# ---------------------------------------------------------------- at the till

def offer_of(coupon: Coupon, *, scanned: bool = False) -> chooser.Offer:
    t = coupon.template
    return chooser.Offer(coupon_id=coupon.id, code=coupon.code, template_id=t.id, type=t.type,
                         valid_from=coupon.valid_from, valid_until=coupon.valid_until,
                         face_value_fen=t.face_value_fen, percent_off=t.percent_off, cap_fen=t.cap_fen,
                         item_sku=t.item_sku, min_spend_fen=t.min_spend_fen, restrictions=t.restrictions or {},
                         combinable=t.combinable, with_points=t.with_points, scanned=scanned, title=t.title_zh,
                         title_en=t.title_en or "")


SCAN_PROBLEMS = {
    "coupon_unknown": N_("coupon %(code)s does not exist"),
    "coupon_other_member": N_("coupon %(code)s belongs to another member"),
    "coupon_used": N_("coupon %(code)s has already been used"),
    "coupon_void": N_("coupon %(code)s has been withdrawn"),
    "coupon_expired": N_("coupon %(code)s has expired"),
    "coupon_needs_member": N_("coupon %(code)s needs its member's card at the till"),
}


def _scan_problem(code: str, reason: str, typed: str) -> DomainError:
    shown = pretty(code) if code else typed[:24]
    status = 404 if reason == "coupon_unknown" else 409 if reason == "coupon_used" else 422
    return DomainError(SCAN_PROBLEMS[reason] % {"code": shown}, code=reason, status=status,
                       fields={"coupon_codes": f"{shown}: {reason}"}, params={"code": shown})


def choose_at_till(session: Session, member: Member | None, *, codes: list[str], lines, line_discounts: dict[int, int],
                   store: Store, clock: Clock, paying_with_points: bool) -> chooser.Choice:
    """The coupons this purchase uses: every coupon the member holds plus ``codes``
    scanned. No query at all when the member holds none and nothing is scanned (the
    member row's ``coupons_held`` says so). A scanned code that is unknown, another
    member's, used, withdrawn or expired is refused (4xx) naming the code and why."""
    if not codes and (member is None or not member.coupons_held):
        return chooser.NOTHING
    wanted = []
    for typed in codes:
        code = normalise(typed)
        if code is None:
            raise _scan_problem("", "coupon_unknown", typed)
        wanted.append(code)
    if member is None or member.status != "active":
        raise _scan_problem(wanted[0], "coupon_needs_member", wanted[0])
    held = select(Coupon).where(Coupon.member_id == member.id, Coupon.status == "available",
                                Coupon.valid_until >= clock.today)
    if wanted:
        held = select(Coupon).where((Coupon.id.in_(held.with_only_columns(Coupon.id).scalar_subquery()))
                                    | Coupon.code.in_(wanted))
    rows = {c.code: c for c in session.scalars(held.options(joinedload(Coupon.template)))}
    for code in wanted:
        c = rows.get(code)
        if c is None:
            raise _scan_problem(code, "coupon_unknown", code)
        if c.member_id != member.id:
            raise _scan_problem(code, "coupon_other_member", code)
        if c.status in ("used", "void"):
            raise _scan_problem(code, f"coupon_{c.status}", code)
        if c.valid_until < clock.today:
            raise _scan_problem(code, "coupon_expired", code)
    if not rows:
        return chooser.NOTHING
    tiers = dict(session.execute(select(Tier.id, Tier.code)).all()) if member.tier_id else {}
    till = chooser.Till(store_code=store.code, store_kind=store.kind, tier=tiers.get(member.tier_id),
                        today=clock.today, weekday=clock.local.isoweekday(), hour=clock.local.hour,
                        paying_with_points=paying_with_points)
    basket = [chooser.Line(ln.line_no, ln.sku, ln.category, ln.qty, ln.unit_price_fen,
                           ln.amount_fen - line_discounts.get(ln.line_no, 0)) for ln in lines]
    offers = [offer_of(c, scanned=c.code in wanted) for c in rows.values()]
    return chooser.choose(offers, till, basket)


def redeem_at_till(session: Session, picked: chooser.Choice, txn: Transaction, clock: Clock) -> list[dict]:
    """Mark the chosen coupons used by ``txn``, each once: the update only takes a coupon
    still available, so a second till using the same coupon at the same time fails.
    Returns the receipt's benefit rows it wrote (kind ``coupon_used``), for the receipt
    built in memory."""
    if not picked.applied:
        return []
    rows = []
    for a in picked.applied:
        done = session.execute(
            update(Coupon).where(Coupon.id == a.offer.coupon_id, Coupon.status == "available")
            .values(status="used", used_at=clock.utc, used_transaction_id=txn.id, used_store_id=txn.store_id,
                    discount_fen=a.discount_fen, basket_fen=txn.total_fen)
            .execution_options(synchronize_session=False))
        if done.rowcount != 1:
            raise _scan_problem(a.offer.code, "coupon_used", a.offer.code)
        zh, en = _receipt_words(a)
        rows.append({"transaction_id": txn.id, "kind": "coupon_used", "rule_id": None, "rule_version": None,
                     "rule_name": a.offer.title[:120], "points": 0, "amount_fen": a.discount_fen,
                     "text_zh": zh[:255], "text_en": en[:255]})
    session.execute(insert(TransactionBenefit), rows)
    _count_held(session, txn.member_id, -len(picked.applied))
    return rows


def _receipt_words(a: chooser.Applied) -> tuple[str, str]:
    code = pretty(a.offer.code)
    if a.offer.type == "gift":
        return f"兑换券 {a.offer.title}（{code}）：领取 {a.offer.item_sku}", \
            f"Gift coupon {a.offer.title} ({code}): hand over {a.offer.item_sku}"
    return f"优惠券 {a.offer.title}（{code}）", f"Coupon {a.offer.title} ({code})"


def receipt_fields(picked: chooser.Choice) -> dict:
    """What the receipt body says of coupons (the API adds each reason in the page's language)."""
    return {
        "coupons_applied": [{"code": a.offer.code, "title": a.offer.title, "type": a.offer.type,
                             "discount_fen": a.discount_fen} for a in picked.applied],
        "coupons_not_applied": [{"code": o.code, "title": o.title, "title_en": o.title_en, "reason_code": reason}
                                for o, reason in picked.left_out],
    }


def restore_after_refund(session: Session, original: Transaction, refund: Transaction, clock: Clock) -> list[dict]:
    """A purchase refunded in full gives its coupons back, once; a coupon whose validity
    has passed stays used. Returns the refund receipt's lines about them."""
    lines = []
    rows = list(session.scalars(select(Coupon).where(Coupon.used_transaction_id == original.id,
                                                     Coupon.status == "used").with_for_update()))
    back = 0
    for c in rows:
        title = c.template.title_zh
        if c.valid_until >= clock.today:
            c.status, c.restored_at = "available", clock.utc
            c.used_transaction_id = c.used_store_id = c.used_at = None
            back += 1
            lines.append({"kind": "coupon_restored", "text": f"退回优惠券 {title}（{pretty(c.code)}）",
                          "text_en": f"Coupon {title} ({pretty(c.code)}) given back", "code": c.code})
        else:
            lines.append({"kind": "coupon_kept", "text": f"优惠券 {title}（{pretty(c.code)}）已过期，不退回",
                          "text_en": f"Coupon {title} ({pretty(c.code)}) has expired: it stays used",
                          "code": c.code})
    if back:
        _count_held(session, original.member_id, back)
    session.flush()
    return lines


def void_for_closure(session: Session, member: Member, clock: Clock) -> None:
    """A member who closes their membership keeps no usable coupon (privacy closure hook)."""
    voided = session.execute(update(Coupon).where(Coupon.member_id == member.id, Coupon.status == "available")
                             .values(status="void").execution_options(synchronize_session=False)).rowcount
    if voided:
        _count_held(session, member.id, -voided)


def coupons_for_export(session: Session, member_id: int) -> list[dict]:
    """The member's coupons for their data download."""
    return [{"code": c.code, "template": c.template.code, "title": c.template.title_zh, "status": c.status,
             "channel": c.channel, "valid_from": c.valid_from.isoformat(), "valid_until": c.valid_until.isoformat(),
             "used_transaction_id": c.used_transaction_id, "discount_fen": c.discount_fen}
            for c in session.scalars(select(Coupon).where(Coupon.member_id == member_id).order_by(Coupon.id))]


# ---------------------------------------------------------------- reminders

def remind_expiring_coupons(session: Session, settings: Settings, today: date, *,
                            days_ahead: int = EXPIRY_REMINDER_DAYS, now=None) -> int:
    """Queue one reminder per coupon that ends within ``days_ahead`` days (catching up
    after downtime); the coupon remembers it was reminded and the outbox key is the
    coupon's, so a rerun or a second leader sends none twice."""
    due = session.scalars(select(Coupon).where(Coupon.status == "available", Coupon.reminded_on.is_(None),
                                               Coupon.valid_until >= today,
                                               Coupon.valid_until <= today + timedelta(days=days_ahead))
                          .order_by(Coupon.id).limit(5000))
    queued = 0
    for c in due:
        member = session.get(Member, c.member_id)
        c.reminded_on = today
        if member is None or member.status != "active" or not (member.openid or member.phone):
            continue
        outbox.enqueue(session, settings, purpose="coupon_expiring", member=member,
                       text=f"您的{c.template.title_zh}将于{c.valid_until.isoformat()}到期，请尽快使用。",
                       fields={"coupon": c.template.title_zh[:20], "date": c.valid_until.isoformat()},
                       dedup_key=f"coupon_expiring:{c.id}", now=now)
        queued += 1
    session.flush()
    return queued


# ---------------------------------------------------------------- points for coupons

def exchange_points(session: Session, settings: Settings, member: Member, *, template_code: str, key: str,
                    clock: Clock) -> Coupon:
    """Points for a coupon, in H5: the template's ``points_price`` leaves the points
    ledger and one coupon arrives, in one transaction; ``key`` (one per tap) makes a
    repeat harmless; the template's stock and per-member limit hold."""
    source_ref = f"exchange:{member.id}:{key}"
    # The member's row first (the lock order everywhere): the same tap sent twice at once
    # waits here, then finds the first one's coupon and spends nothing more.
    session.execute(select(Member.id).where(Member.id == member.id).with_for_update())
    existing = session.scalar(select(Coupon).where(Coupon.source_ref == source_ref)
                              .execution_options(populate_existing=True))
    if existing is not None:
        return existing
    tpl = template_by_code(session, template_code)
    if not tpl.points_price:
        raise DomainError(N_("this coupon cannot be had for points"), code="coupon_not_exchangeable")
    coupon = issue_coupon(session, settings, template_code=template_code, member=member, channel="exchange",
                          source_ref=source_ref, clock=clock, reason=f"{tpl.points_price} points")
    ledger.spend_points(session, member.id, tpl.points_price, ledger.Cause(
        "coupon", ref=str(coupon.id), at=clock.utc, text_zh=f"积分兑换 {tpl.title_zh}",
        text_en=f"Points for coupon {tpl.title_en or tpl.title_zh}"), today=clock.today)
    return coupon


def worth_words(tpl: CouponTemplate) -> tuple[str, str]:
    """What a coupon is worth in a few words (zh, en)."""
    if tpl.type == "cash":
        return f"¥{fen_to_yuan_str(tpl.face_value_fen)}", f"¥{fen_to_yuan_str(tpl.face_value_fen)} off"
    if tpl.type == "spend_get":
        return (f"满{fen_to_yuan_str(tpl.min_spend_fen)}减{fen_to_yuan_str(tpl.face_value_fen)}",
                f"¥{fen_to_yuan_str(tpl.face_value_fen)} off ¥{fen_to_yuan_str(tpl.min_spend_fen)}")
    if tpl.type == "percent":
        zhe = 100 - tpl.percent_off
        return (f"{zhe // 10}{'.' + str(zhe % 10) if zhe % 10 else ''}折", f"{tpl.percent_off}% off")
    if tpl.type == "free_item":
        return f"免费 {tpl.item_sku}", f"free {tpl.item_sku}"
    return f"兑换 {tpl.item_sku}", f"gift {tpl.item_sku}"


# ---------------------------------------------------------------- the points catalogue

@dataclass(frozen=True)
class CatalogueItem:
    """One thing points can buy, as one member sees it now."""
    template: CouponTemplate
    left: int | None              # stock left (None: no limit)
    mine: int                     # how many of it this member has ever received
    refusal: str | None           # why this member cannot exchange it now, or None


def catalogue(session: Session, member_id: int, points_available: int) -> list[CatalogueItem]:
    """The active templates with a points price (gifts, cash vouchers, other coupons),
    cheapest first, with their stock left, how many this member already has, and why not
    (``no_stock``, ``limit_reached``, ``not_enough_points``) when they cannot be had."""
    templates = list(session.scalars(select(CouponTemplate).where(CouponTemplate.active.is_(True),
                                                                  CouponTemplate.points_price.is_not(None))
                                     .order_by(CouponTemplate.points_price, CouponTemplate.id)))
    if not templates:
        return []
    mine = dict(session.execute(select(Coupon.template_id, func.count(Coupon.id))
                                .where(Coupon.member_id == member_id,
                                       Coupon.template_id.in_([t.id for t in templates]))
                                .group_by(Coupon.template_id)).all())
    out = []
    for t in templates:
        left = None if t.stock_total is None else max(t.stock_total - t.issued_count, 0)
        held = int(mine.get(t.id, 0))
        refusal = ("no_stock" if left == 0 else
                   "limit_reached" if t.per_member_limit is not None and held >= t.per_member_limit else
                   "not_enough_points" if t.points_price > points_available else None)
        out.append(CatalogueItem(t, left, held, refusal))
    return out


# ---------------------------------------------------------------- handing a gift over

HAND_OVER_REFUSALS = ("coupon_unknown", "coupon_used", "coupon_void", "coupon_expired", "gift_not_started",
                      "coupon_not_gift", "gift_needs_purchase", "gift_not_here")


def _gift_problem(code: str, refusal: str, *, status: int = 422, **params) -> DomainError:
    messages = {
        "coupon_unknown": "coupon %(code)s does not exist",
        "coupon_used": "gift coupon %(code)s was already handed over",
        "coupon_void": "coupon %(code)s has been withdrawn",
        "coupon_expired": "coupon %(code)s has expired",
        "gift_not_started": "gift coupon %(code)s is not valid yet",
        "coupon_not_gift": "coupon %(code)s is not a gift coupon: it is used at the till with a purchase",
        "gift_needs_purchase": "gift coupon %(code)s needs a purchase: ring it up at the till",
        "gift_not_here": "gift coupon %(code)s cannot be handed over here now",
    }
    return DomainError(messages[refusal] % {"code": code}, code=refusal, status=status,
                       fields={"code": refusal}, params={"code": code, **params})


def gift_for_hand_over(session: Session, typed: str, *, store: Store, clock: Clock, lock: bool = False) -> Coupon:
    """The gift coupon behind a typed or scanned code, if ``store`` may hand its item over
    now; refused (4xx, naming the code and why) otherwise. A used one says when and where."""
    code = normalise(typed)
    shown = pretty(code) if code else (typed or "").strip()[:24]
    if code is None:
        raise _gift_problem(shown, "coupon_unknown", status=404)
    stmt = select(Coupon).where(Coupon.code == code).options(joinedload(Coupon.template))
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    coupon = session.scalar(stmt)
    if coupon is None:
        raise _gift_problem(shown, "coupon_unknown", status=404)
    tpl = coupon.template
    if tpl.type != "gift":
        raise _gift_problem(shown, "coupon_not_gift")
    if coupon.status == "used":
        where = session.get(Store, coupon.used_store_id) if coupon.used_store_id else None
        raise _gift_problem(shown, "coupon_used", status=409, store=where.name if where else "",
                            used_at=coupon.used_at.isoformat() if coupon.used_at else "")
    if coupon.status == "void":
        raise _gift_problem(shown, "coupon_void")
    if coupon.valid_until < clock.today:
        raise _gift_problem(shown, "coupon_expired", until=coupon.valid_until.isoformat())
    if coupon.valid_from > clock.today:
        raise _gift_problem(shown, "gift_not_started", since=coupon.valid_from.isoformat())
    if tpl.min_spend_fen:
        raise _gift_problem(shown, "gift_needs_purchase", spend=fen_to_yuan_str(tpl.min_spend_fen))
    member = session.get(Member, coupon.member_id)
    tier = session.scalar(select(Tier.code).where(Tier.id == member.tier_id)) if member and member.tier_id else None
    till = chooser.Till(store_code=store.code, store_kind=store.kind, tier=tier, today=clock.today,
                        weekday=clock.local.isoweekday(), hour=clock.local.hour)
    why = chooser.why_not(offer_of(coupon, scanned=True), till,
                          [chooser.Line(1, tpl.item_sku, "", 1, tpl.face_value_fen, tpl.face_value_fen)])
    if why is not None:
        raise _gift_problem(shown, "gift_not_here", reason=why)
    return coupon


def hand_over_gift(session: Session, typed: str, *, store: Store, staff_id: int | None, clock: Clock) -> Coupon:
    """The store hands a gift coupon's item over: the coupon is used, once (a second
    hand-over, from this store or another at the same moment, is refused), with the store
    and the staff member who confirmed it. Its stock and points moved when it was had."""
    coupon = gift_for_hand_over(session, typed, store=store, clock=clock)
    done = session.execute(
        update(Coupon).where(Coupon.id == coupon.id, Coupon.status == "available")
        .values(status="used", used_at=clock.utc, used_store_id=store.id, used_staff_id=staff_id, discount_fen=0,
                basket_fen=0)
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise _gift_problem(pretty(coupon.code), "coupon_used", status=409, store="", used_at="")
    _count_held(session, coupon.member_id, -1)
    session.refresh(coupon)
    return coupon


def hand_over_lines(coupon: Coupon) -> tuple[str, str]:
    """The slip's line for a handed-over gift (zh, en), as the till's receipt words it."""
    tpl = coupon.template
    code = pretty(coupon.code)
    return (f"兑换券 {tpl.title_zh}（{code}）：领取 {tpl.item_sku}",
            f"Gift coupon {tpl.title_en or tpl.title_zh} ({code}): hand over {tpl.item_sku}")
