"""Greetings: the birthday greeting (WXCRM_BIRTHDAY_GREETING_DAYS before the birthday) and
holiday greetings (``holidays``), ready templates a marketer enables, edits, schedules for
a time of day and may attach a coupon to.

Each greeting goes to the active members with marketing consent, set-based through
``outbox.enqueue_many``, keyed so a rerun, a catch-up or a second scheduler queues none
twice: ``birthday:{year}:m{member}`` (shared with any birthday rule's message: one
birthday message a member a year) and ``holiday:{code}:{year}:m{member}``.
"""
from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, extract, or_, select
from sqlalchemy.orm import Session

from wxcrm.campaigns import coupons
from wxcrm.campaigns.holidays import BY_CODE, HOLIDAYS, date_in
from wxcrm.campaigns.models import Greeting
from wxcrm.config import Settings
from wxcrm.coupons.models import CouponTemplate
from wxcrm.errors import DomainError, NotFound
from wxcrm.members.models import Member
from wxcrm.messages import outbox
from wxcrm.sqlutil import insert_missing_many
from wxcrm.timeutil import to_utc_naive

BIRTHDAY = "birthday"
# each fits an SMS template parameter (35 characters, no link), so SMS can carry it too
TEXTS = {
    "birthday": "生日快乐！生日当天到店消费享双倍积分，礼遇已为您备好。",
    "new_year": "元旦快乐！新的一年，愿您万事顺意。",
    "spring_festival": "新春快乐！恭祝您阖家幸福、万事如意。",
    "lantern": "元宵节快乐！花好月圆人团圆。",
    "qingming": "清明时节，春和景明，愿您出行平安顺遂。",
    "dragon_boat": "端午安康！愿您和家人平安健康。",
    "qixi": "七夕快乐！愿甜蜜常伴。",
    "mid_autumn": "中秋快乐！月圆人团圆，愿您阖家幸福。",
    "double_ninth": "重阳安康！愿您和家中长辈福寿安康。",
    "national_day": "国庆快乐！假期出行愉快，我们在门店等您。",
    "christmas": "圣诞快乐！愿您节日温馨，喜乐平安。",
}


def ensure_greetings(session: Session) -> None:
    """The ready greetings, added once (disabled: a marketer enables each)."""
    rows = [{"code": BIRTHDAY, "kind": "birthday", "name": "生日祝福", "name_en": "Birthday greeting",
             "text": TEXTS["birthday"], "enabled": False, "send_time": "10:00"}]
    rows += [{"code": h.code, "kind": "holiday", "name": h.name, "name_en": h.label, "text": TEXTS[h.code],
              "enabled": False, "send_time": "10:00"} for h in HOLIDAYS]
    insert_missing_many(session, Greeting, "code", rows)
    session.flush()


def greeting_date(greeting: Greeting, year: int) -> date | None:
    """The day a holiday greeting is for in ``year`` (None for the birthday greeting)."""
    if greeting.kind == BIRTHDAY:
        return None
    if greeting.code in BY_CODE:
        return date_in(BY_CODE[greeting.code], year)
    if greeting.month and greeting.day:
        return date(year, greeting.month, min(greeting.day, calendar.monthrange(year, greeting.month)[1]))
    return None


def _moment(settings: Settings, day: date, send_time: str, now: datetime) -> datetime:
    """The greeting's send time that day (naive UTC), or now when it has passed."""
    at = to_utc_naive(datetime.combine(day, time.fromisoformat(send_time), settings.tz))
    return max(at, now)


def _greet(session: Session, settings: Settings, greeting: Greeting, purpose: str, member_ids: list[int],
           key_prefix: str, at: datetime) -> dict:
    """Queue the greeting (and issue its coupon, when it has one): the members who hold
    the coupon get the words that name it, the others (stock gone, limit reached) the
    greeting alone."""
    counts: dict = {"members": len(member_ids)}
    batches = [(greeting.text, None, member_ids)]
    if greeting.coupon_template_id and member_ids:
        tpl = session.get(CouponTemplate, greeting.coupon_template_id)
        issued = coupons.issue(session, settings, template_id=greeting.coupon_template_id, member_ids=member_ids,
                               ref=key_prefix, now=at)
        counts["coupons"] = issued.issued
        if issued.out_of_stock:
            counts["coupons_out_of_stock"] = issued.out_of_stock
        holders = set(issued.holders)
        text, sms_text = coupons.wording(tpl, greeting.text)
        batches = [(text, {"sms_text": sms_text}, [m for m in member_ids if m in holders]),
                   (greeting.text, None, [m for m in member_ids if m not in holders])]
    for text, fields, ids in batches:
        if not ids:
            continue
        found = outbox.enqueue_many(session, settings, purpose=purpose, text=text, fields=fields, member_ids=ids,
                                    dedup_prefix=key_prefix, now=at)
        for key, value in found.items():
            counts[key] = counts.get(key, 0) + value
    return counts


def _marketable():
    return and_(Member.status == "active", Member.marketing_consent.is_(True))


def birthdays_on(day: date):
    """Members whose birthday falls on ``day`` (29 February ones on the 28th in other years)."""
    match = and_(extract("month", Member.birthday) == day.month, extract("day", Member.birthday) == day.day)
    if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
        match = or_(match, and_(extract("month", Member.birthday) == 2, extract("day", Member.birthday) == 29))
    return and_(Member.birthday.is_not(None), match)


def queue_birthday_greetings(session: Session, settings: Settings, day: date, now: datetime) -> dict:
    """On business date ``day``, greet the members whose birthday is
    WXCRM_BIRTHDAY_GREETING_DAYS later (once a year each, whatever runs again)."""
    greeting = session.scalar(select(Greeting).where(Greeting.code == BIRTHDAY))
    if greeting is None or not greeting.enabled:
        return {"members": 0}
    birthday = day + timedelta(days=settings.birthday_greeting_days)
    ids = list(session.scalars(select(Member.id).where(_marketable(), birthdays_on(birthday)).order_by(Member.id)))
    return _greet(session, settings, greeting, "birthday", ids, f"birthday:{birthday.year}",
                  _moment(settings, day, greeting.send_time, now))


def queue_holiday_greetings(session: Session, settings: Settings, day: date, now: datetime) -> dict:
    """On business date ``day``, the enabled holiday greetings whose date it is."""
    counts: dict = {"members": 0}
    for greeting in session.scalars(select(Greeting).where(Greeting.kind == "holiday", Greeting.enabled.is_(True))):
        if greeting_date(greeting, day.year) != day:
            continue
        ids = list(session.scalars(select(Member.id).where(_marketable()).order_by(Member.id)))
        found = _greet(session, settings, greeting, "holiday", ids, f"holiday:{greeting.code}:{day.year}",
                       _moment(settings, day, greeting.send_time, now))
        for key, value in found.items():
            counts[key] = counts.get(key, 0) + value
        counts.setdefault("greetings", []).append(greeting.code)
    return counts


def update_greeting(session: Session, greeting_id: int, *, text: str | None = None, enabled: bool | None = None,
                    send_time: str | None = None, coupon_template_id: int | None = None,
                    clear_coupon: bool = False) -> Greeting:
    greeting = session.get(Greeting, greeting_id)
    if greeting is None:
        raise NotFound(f"no greeting {greeting_id}", code="greeting_not_found")
    if text is not None:
        if not text.strip() or len(text) > 600:
            raise DomainError("a greeting needs 1 to 600 characters", code="greeting_text", fields={"text": "invalid"})
        greeting.text = text.strip()
    if send_time is not None:
        try:
            time.fromisoformat(send_time)
        except ValueError:
            raise DomainError("send time is HH:MM", code="greeting_time", fields={"send_time": "invalid"}) from None
        greeting.send_time = send_time[:5]
    if enabled is not None:
        greeting.enabled = enabled
    if clear_coupon:
        greeting.coupon_template_id = None
    elif coupon_template_id is not None:
        greeting.coupon_template_id = coupons.check_template(session, coupon_template_id).id
    session.flush()
    return greeting


def add_brand_date(session: Session, *, code: str, name: str, month: int, day: int, text: str) -> Greeting:
    """The brand's own date (its anniversary, a members' day): a holiday greeting on a fixed day."""
    code = code.strip().lower()
    if not code.replace("_", "").isalnum() or len(code) > 32 or code in BY_CODE or code == BIRTHDAY:
        raise DomainError("the code is letters, digits and _ and not a holiday's", code="greeting_code",
                          fields={"code": "invalid"})
    try:
        date(2024, month, day)
    except ValueError:
        raise DomainError("no such day", code="greeting_day", fields={"day": "invalid"}) from None
    if session.scalar(select(Greeting.id).where(Greeting.code == code)):
        raise DomainError("that code is taken", code="greeting_code_taken", fields={"code": "taken"})
    greeting = Greeting(code=code, kind="holiday", name=name.strip()[:64], name_en=name.strip()[:64],
                        text=text.strip(), enabled=False, send_time="10:00", month=month, day=day)
    session.add(greeting)
    session.flush()
    return greeting
