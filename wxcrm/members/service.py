"""Members, stores, staff and tokens. Functions take a session, flush, never commit."""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import date, datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from wxcrm.errors import N_, Conflict, DomainError, NotFound
from wxcrm.ledger import service as ledger
from wxcrm.members import cache
from wxcrm.members.models import (
    GENDERS,
    HISTORY_FIELDS,
    HISTORY_SOURCES,
    ROLES,
    STORE_KINDS,
    STORE_ROLES,
    ApiToken,
    CardNumberSequence,
    ConsentRecord,
    GroupAccount,
    Member,
    MemberAccess,
    MemberChange,
    Staff,
    Store,
    Tier,
)
from wxcrm.sqlutil import connection as sql_connection
from wxcrm.sqlutil import insert_missing, run
from wxcrm.timeutil import utcnow

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")  # mainland China mobile


# ---------------------------------------------------------------- stores

def create_store(session: Session, *, code: str, name: str, kind: str = "direct", address: str = "",
                 city: str = "") -> Store:
    code = code.strip().upper()
    if not re.fullmatch(r"[A-Z0-9_-]{2,32}", code):
        raise DomainError(N_("store code must be 2-32 letters, digits, '-' or '_'"), code="invalid_store_code",
                          fields={"code": "invalid"})
    if kind not in STORE_KINDS:
        raise DomainError(f"kind must be one of {', '.join(STORE_KINDS)}", code="invalid_store_kind",
                          fields={"kind": "invalid"})
    if session.scalar(select(Store.id).where(Store.code == code)):
        raise Conflict(f"store {code} already exists", code="store_exists")
    store = Store(code=code, name=name.strip(), kind=kind, address=address.strip(), city=city.strip())
    session.add(store)
    session.flush()
    return store


def store_by_code(session: Session, code: str) -> Store:
    code = code.strip().upper()

    def load(s: Session) -> Store | None:
        found = s.scalar(select(Store).where(Store.code == code))
        return cache.detached_copy(found) if found is not None else None

    store = cache.attach(session, cache.stores.get(session, code, load) if len(code) <= 32 else None)
    if store is None:
        raise NotFound(f"no store {code}", code="store_not_found")
    return store


def store_by_id(session: Session, store_id: int) -> Store | None:
    """A store by id, from the worker's cache (receipts name the store of a sale)."""
    def load(s: Session) -> Store | None:
        found = s.get(Store, store_id)
        return cache.detached_copy(found) if found is not None else None

    return cache.attach(session, cache.stores.get(session, ("id", store_id), load))


# ---------------------------------------------------------------- staff and tokens

def create_staff(session: Session, *, username: str, password: str, role: str, store_code: str | None = None,
                 display_name: str = "") -> Staff:
    username = username.strip().lower()
    if not re.fullmatch(r"[a-z0-9_.-]{2,64}", username):
        raise DomainError(N_("username must be 2-64 letters, digits, '.', '-' or '_'"), code="invalid_username",
                          fields={"username": "invalid"})
    if role not in ROLES:
        raise DomainError(f"role must be one of {', '.join(ROLES)}", code="invalid_role", fields={"role": "invalid"})
    if len(password) < 8:
        raise DomainError(N_("password must have at least 8 characters"), code="weak_password",
                          fields={"password": "too short"})
    store = store_by_code(session, store_code) if store_code else None
    if role in STORE_ROLES and store is None:
        raise DomainError(N_("a cashier belongs to a store"), code="store_required", fields={"store": "required"})
    if session.scalar(select(Staff.id).where(Staff.username == username)):
        raise Conflict(f"staff {username} already exists", code="staff_exists")
    staff = Staff(username=username, display_name=display_name or username, role=role,
                  password_hash=generate_password_hash(password), store=store)
    session.add(staff)
    session.flush()
    return staff


# Checked against when the username is unknown, so an unknown user costs the same hash as a known one.
_DUMMY_HASH = generate_password_hash("not-a-password-" + secrets.token_hex(8))
LOCK_AFTER_FAILURES = 5
FIRST_LOCK_SECONDS = 60
MAX_LOCK_SECONDS = 3600


class LoginRefused(DomainError):
    status = 401
    code = "login_refused"


def check_login(session: Session, username: str, password: str, *, now: datetime | None = None) -> Staff | None:
    """The staff member these credentials sign in, or None. Every attempt hashes once (known or
    unknown user, locked or not). From the 5th wrong password in a row the account is locked,
    for a minute, doubling with each further failure up to an hour; the right password does not
    open a locked account. Flushes the counters; the caller commits either way."""
    now = now or utcnow()
    staff = session.scalar(select(Staff).where(Staff.username == username.strip().lower()[:64]))
    matches = check_password_hash(staff.password_hash if staff is not None else _DUMMY_HASH, password)
    if staff is None:
        return None
    if staff.locked_until is not None and staff.locked_until > now:
        return None
    if not matches or not staff.active:
        staff.failed_logins += 1
        if staff.failed_logins >= LOCK_AFTER_FAILURES:
            seconds = min(FIRST_LOCK_SECONDS * 2 ** (staff.failed_logins - LOCK_AFTER_FAILURES), MAX_LOCK_SECONDS)
            staff.locked_until = now + timedelta(seconds=seconds)
        session.flush()
        return None
    staff.failed_logins, staff.locked_until, staff.last_login_at = 0, None, now
    session.flush()
    return staff


def unlock_staff(session: Session, staff: Staff) -> None:
    staff.failed_logins, staff.locked_until = 0, None
    session.flush()


def end_sessions(session: Session, staff: Staff) -> None:
    """Every session cookie of this staff member stops working (the epoch is in its user id)."""
    staff.session_epoch += 1
    session.flush()


def change_password(session: Session, staff: Staff, *, current: str, new: str) -> None:
    if not check_password_hash(staff.password_hash, current):
        raise DomainError(N_("the current password is wrong"), code="wrong_password", fields={"current": "wrong"})
    if len(new) < 8:
        raise DomainError(N_("password must have at least 8 characters"), code="weak_password",
                          fields={"new": "too short"})
    staff.password_hash = generate_password_hash(new)
    end_sessions(session, staff)


def staff_for_session(session: Session, user_id: str) -> Staff | None:
    """Flask-Login's user loader: "id:epoch" from the cookie; an old epoch is no session."""
    staff_id, _, epoch = user_id.partition(":")
    if not staff_id.isdigit() or not epoch.isdigit() or len(staff_id) > 18:
        return None
    staff = session.get(Staff, int(staff_id))
    if staff is None or staff.session_epoch != int(epoch):
        return None
    return staff


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, staff: Staff, name: str = "") -> str:
    """Return a new bearer token; only its hash is stored."""
    token = "wxc_" + secrets.token_urlsafe(32)
    session.add(ApiToken(staff_id=staff.id, token_hash=_token_hash(token), prefix=token[:10], name=name))
    session.flush()
    return token


def token_and_staff(session: Session, token: str) -> tuple[int, Staff] | None:
    """The live token's id and its active staff member, the caller's own instance (cached per
    worker: ``members.cache``). The token itself is not attached: its id is all a request asks
    of it (issue 11: attaching a cached copy costs as much as a small statement)."""
    if len(token) > 256:
        return None

    def load(s: Session):
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None)))
        if row is None or not row.staff.active:
            return None
        return cache.detached_copy(row), cache.detached_copy(row.staff)

    digest = _token_hash(token)
    found = cache.tokens.get(session, digest, load)
    if found is None:
        return None
    return found[0].id, cache.attach(session, found[1])


def staff_for_token(session: Session, token: str) -> Staff | None:
    found = token_and_staff(session, token)
    return found[1] if found else None


# ---------------------------------------------------------------- members

def _luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return str((10 - total % 10) % 10)


def next_card_no(session: Session, prefix: str) -> str:
    """prefix + 9-digit sequence + Luhn check digit, from a locked counter row."""
    # No savepoint here: on SQLite a first savepoint would commit the caller's work.
    insert_missing(session, CardNumberSequence, "prefix", prefix=prefix, next_value=1)
    seq = session.scalar(select(CardNumberSequence).where(CardNumberSequence.prefix == prefix).with_for_update()
                         .execution_options(populate_existing=True))
    value = seq.next_value
    seq.next_value = value + 1
    body = f"{prefix}{value:09d}"
    return body + _luhn_digit(body)


def reserve_card_numbers(session: Session, prefix: str, count: int) -> list[str]:
    """``count`` consecutive card numbers at once (bulk loads and imports), from the same locked counter."""
    insert_missing(session, CardNumberSequence, "prefix", prefix=prefix, next_value=1)
    seq = session.scalar(select(CardNumberSequence).where(CardNumberSequence.prefix == prefix).with_for_update()
                         .execution_options(populate_existing=True))
    first = seq.next_value
    seq.next_value = first + count
    return [f"{prefix}{v:09d}" + _luhn_digit(f"{prefix}{v:09d}") for v in range(first, first + count)]


def valid_card_no(card_no: str) -> bool:
    return card_no.isdigit() and len(card_no) > 1 and _luhn_digit(card_no[:-1]) == card_no[-1]


def create_member(session: Session, *, card_prefix: str, today: date, phone: str | None = None,
                  openid: str | None = None, unionid: str | None = None, name: str = "", gender: str = "unknown",
                  birthday: date | None = None, district: str = "", occupation: str = "", education: str = "",
                  income_band: str = "", home_store_code: str | None = None, referrer_id: int | None = None,
                  group_code: str | None = None, tier_code: str | None = None,
                  expires_on: date | None = None, privacy_version: str | None = None,
                  marketing_consent: bool = False, consent_channel: str = "staff",
                  staff_id: int | None = None) -> Member:
    """A new member. A profile (phone, name, birthday, demographics) is kept only with consent to
    the privacy notice (``privacy_version``); a WeChat follower's card needs only the openid until
    they accept the notice on the H5 pages."""
    profile = (phone, name.strip(), birthday, district, occupation, education, income_band,
               gender if gender != "unknown" else "")
    if privacy_version is None and any(profile):
        raise DomainError(N_("the member must agree to the privacy notice before a profile is kept"),
                          code="consent_required", fields={"privacy_consent": "required"})
    if phone is not None:
        phone = phone.strip()
        if not PHONE_RE.fullmatch(phone):
            raise DomainError(N_("phone must be an 11-digit mainland mobile number"), code="invalid_phone",
                              fields={"phone": "invalid"})
        if session.scalar(select(Member.id).where(Member.phone == phone)):
            raise Conflict(N_("a member with this phone already exists"), code="phone_taken")
    if openid and session.scalar(select(Member.id).where(Member.openid == openid)):
        raise Conflict(N_("a member with this openid already exists"), code="openid_taken")
    if birthday and birthday > today:
        raise DomainError(N_("birthday is in the future"), code="invalid_birthday", fields={"birthday": "in the future"})
    home_store = store_by_code(session, home_store_code) if home_store_code else None
    if referrer_id is not None and session.get(Member, referrer_id) is None:
        raise NotFound(f"no referrer {referrer_id}", code="referrer_not_found")
    group = None
    if group_code:
        group = session.scalar(select(GroupAccount).where(GroupAccount.code == group_code))
        if group is None:
            raise NotFound(f"no group account {group_code}", code="group_not_found")
    tier = (session.scalar(select(Tier).where(Tier.code == tier_code)) if tier_code
            else session.scalar(select(Tier).order_by(Tier.rank).limit(1)))
    if tier_code and tier is None:
        raise NotFound(f"no tier {tier_code}", code="tier_not_found")
    member = Member(card_no=next_card_no(session, card_prefix), phone=phone, openid=openid or None,
                    unionid=unionid or None, name=name.strip(), gender=gender, birthday=birthday, district=district,
                    occupation=occupation, education=education, income_band=income_band, home_store=home_store,
                    referrer_id=referrer_id, group=group, tier=tier, status="active", joined_on=today,
                    expires_on=expires_on)
    session.add(member)
    session.flush()
    ledger.open_accounts(session, member.id)
    if privacy_version is not None:
        record_consent(session, member, privacy_version=privacy_version, marketing=marketing_consent,
                       channel=consent_channel, staff_id=staff_id)
    return member


def record_consent(session: Session, member: Member, *, privacy_version: str | None, marketing: bool | None,
                   channel: str, staff_id: int | None = None, at: datetime | None = None) -> None:
    """Record consent to the privacy notice (a version) and/or the marketing choice, with history."""
    at = at or utcnow()
    if privacy_version is not None:
        member.privacy_version, member.privacy_consented_at = privacy_version, at
        session.add(ConsentRecord(member_id=member.id, kind="privacy", version=privacy_version, granted=True,
                                  channel=channel, staff_id=staff_id, at=at))
    if marketing is not None and (marketing != member.marketing_consent or privacy_version is not None):
        member.marketing_consent = marketing
        session.add(ConsentRecord(member_id=member.id, kind="marketing", version=member.privacy_version or "",
                                  granted=marketing, channel=channel, staff_id=staff_id, at=at))
    session.flush()


def find_member(session: Session, *, member_id: int | None = None, card_no: str | None = None,
                phone: str | None = None, openid: str | None = None) -> Member | None:
    if member_id is not None:
        return session.get(Member, member_id)
    for column, value in ((Member.card_no, card_no), (Member.phone, phone), (Member.openid, openid)):
        if value:
            return session.scalar(select(Member).where(column == value.strip()))
    return None


def get_member(session: Session, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound(f"no member {member_id}", code="member_not_found")
    return member


# ---------------------------------------------------------------- who looked at whom

ACCESS_WINDOW_HOURS = 12  # a till may open a member it looked up (or enrolled) within this long


def log_access(session: Session, *, staff_id: int, member_id: int | None, action: str, channel: str,
               detail: str = "") -> None:
    """Record a staff action on a member's personal data (PIPL: staff access is accountable)."""
    session.flush()     # the caller's pending work first, as when this row went in by a flush
    run(sql_connection(session), _INSERT_ACCESS, {"staff_id": staff_id, "member_id": member_id, "action": action,
                                                     "channel": channel, "detail": detail[:120], "at": utcnow()})


_INSERT_ACCESS = insert(MemberAccess.__table__)   # Core, built once: a look-up writes one (issue 11)


def recently_accessed(session: Session, *, staff_id: int, member_id: int, now: datetime | None = None) -> bool:
    """Did this staff member look this member up (or enrol them) within the window?"""
    since = (now or utcnow()) - timedelta(hours=ACCESS_WINDOW_HOURS)
    return session.scalar(select(MemberAccess.id).where(
        MemberAccess.staff_id == staff_id, MemberAccess.member_id == member_id,
        MemberAccess.action.in_(("lookup", "enrol")), MemberAccess.at >= since).limit(1)) is not None


def mask_phone(phone: str | None) -> str | None:
    """139****0001: enough for a cashier to confirm with the customer, not to copy."""
    if not phone:
        return phone
    return phone[:3] + "*" * max(len(phone) - 7, 0) + phone[-4:] if len(phone) > 7 else "*" * len(phone)


def create_tier(session: Session, *, code: str, name: str, rank: int, upgrade_threshold_fen: int = 0,
                name_en: str = "") -> Tier:
    tier = Tier(code=code, name=name, name_en=name_en or name, rank=rank, upgrade_threshold_fen=upgrade_threshold_fen)
    session.add(tier)
    session.flush()
    return tier


def create_group(session: Session, *, code: str, name: str, contact_name: str = "", contact_phone: str = "") -> GroupAccount:
    if session.scalar(select(GroupAccount.id).where(GroupAccount.code == code)):
        raise Conflict(N_("a group account with this code already exists"), code="group_exists",
                       fields={"code": "taken"})
    group = GroupAccount(code=code, name=name, contact_name=contact_name, contact_phone=contact_phone)
    session.add(group)
    session.flush()
    return group


def update_own_profile(session: Session, member: Member, *, name: str, gender: str, birthday: date | None,
                 today: date, demographics: dict | None = None) -> Member:
    """The member's own profile form (WeChat no longer gives nickname, gender or region);
    ``demographics``: district, occupation, education, income_band (those given change)."""
    name = name.strip()
    if len(name) > 64:
        raise DomainError("name is too long", code="invalid_name", fields={"name": "too long"})
    if gender not in GENDERS:
        raise DomainError("unknown gender", code="invalid_gender", fields={"gender": "invalid"})
    if birthday is not None and (birthday > today or birthday.year < 1900):
        raise DomainError("birthday is not a real date of birth", code="invalid_birthday",
                          fields={"birthday": "invalid"})
    if member.birthday is not None and birthday != member.birthday:
        # Birthdays earn greetings and birthday rules: members set it once; the till staff correct it.
        raise DomainError("your birthday is already set; ask at the till to change it", code="birthday_locked",
                          fields={"birthday": "locked"})
    extra = {}
    for field, value in (demographics or {}).items():
        if field not in ("district", "occupation", "education", "income_band"):
            raise ValueError(f"not a demographic field: {field}")
        value = (value or "").strip()
        if len(value) > _TEXT_LIMITS[field]:
            raise DomainError(N_("too long"), code="invalid_profile", fields={field: "too long"})
        extra[field] = value
    for field, value in (("name", name), ("gender", gender), ("birthday", birthday), *extra.items()):
        if getattr(member, field) != value:
            record_change(session, member, field, getattr(member, field), value, source="member",
                          reason=N_("the member's own profile form"))
            setattr(member, field, value)
    session.flush()
    return member


def member_for_openid(session: Session, openid: str, unionid: str | None = None) -> Member | None:
    """The member behind an openid (None for a visitor who does not follow yet); the
    unionid, when WeChat OAuth gave one, is kept for matching across the brand's apps."""
    member = find_member(session, openid=openid)
    if member is not None and unionid and member.unionid != unionid:
        member.unionid = unionid
        session.flush()
    return member


def tier_counts(session: Session) -> list[tuple[Tier, int]]:
    counts = dict(session.execute(select(Member.tier_id, func.count(Member.id)).group_by(Member.tier_id)).all())
    return [(t, counts.get(t.id, 0)) for t in session.scalars(select(Tier).order_by(Tier.rank))]


# ---------------------------------------------------------------- changes and their history

PROFILE_FIELDS = ("name", "gender", "birthday", "district", "occupation", "education", "income_band")
_TEXT_LIMITS = {"name": 64, "district": 64, "occupation": 64, "education": 32, "income_band": 32}


def _shown(value) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else str(value)


def record_change(session: Session, member: Member, field: str, old, new, *, source: str, reason: str = "",
                  staff_id: int | None = None, rule_id: int | None = None, transaction_id: int | None = None,
                  at: datetime | None = None) -> MemberChange:
    """One line of the member's history: what changed, from what to what, who and why."""
    if field not in HISTORY_FIELDS or source not in HISTORY_SOURCES:
        raise ValueError(f"unknown history field {field!r} or source {source!r}")
    change = MemberChange(member_id=member.id, field=field, old_value=_shown(old)[:120], new_value=_shown(new)[:120],
                          source=source, reason=(reason or "")[:255], staff_id=staff_id, rule_id=rule_id,
                          transaction_id=transaction_id, at=at or utcnow())
    session.add(change)
    session.flush()
    return change


def tiers_by_rank(session: Session) -> list[Tier]:
    return [cache.attach(session, t) for t in cache.cached_tiers(session)]



def tier_by_code(session: Session, code: str) -> Tier:
    tier = session.scalar(select(Tier).where(Tier.code == code))
    if tier is None:
        raise NotFound(f"no tier {code}", code="tier_not_found", fields={"tier": "unknown tier"})
    return tier


def set_tier(session: Session, member: Member, tier: Tier | None, *, source: str, reason: str = "",
             staff_id: int | None = None, rule_id: int | None = None, transaction_id: int | None = None,
             at: datetime | None = None) -> MemberChange | None:
    """Move a member to ``tier`` and write it in their history; None when already there."""
    old = session.get(Tier, member.tier_id) if member.tier_id else None
    if (old.id if old else None) == (tier.id if tier else None):
        return None
    member.tier_id = tier.id if tier else None
    return record_change(session, member, "tier", old.code if old else None, tier.code if tier else None,
                         source=source, reason=reason, staff_id=staff_id, rule_id=rule_id,
                         transaction_id=transaction_id, at=at)


def change_member(session: Session, member: Member, changes: dict, *, staff_id: int | None, reason: str = "",
                  today: date, at: datetime | None = None) -> list[MemberChange]:
    """Staff change a member from the back office: the tier (a code, with ``reason`` and an
    optional ``tier_until``: the tier holds through that date), the membership expiry and
    the profile. Every change is a history line naming the staff member and the reason.
    Nothing changes when any value is refused."""
    unknown = set(changes) - {"tier", "tier_until", "expires_on", *PROFILE_FIELDS}
    if unknown:
        raise DomainError(f"cannot change {', '.join(sorted(unknown))}", code="invalid_member_change",
                          fields={name: "unknown field" for name in unknown})
    if "tier_until" in changes and "tier" not in changes:
        raise DomainError(N_("tier_until goes with tier"), code="tier_until_needs_tier",
                          fields={"tier_until": "needs tier"})
    if "tier" in changes and not (reason or "").strip():
        raise DomainError(N_("say why the tier changes"), code="reason_required", fields={"reason": "required"})
    tier = None
    if "tier" in changes:
        tier = tier_by_code(session, str(changes["tier"] or ""))
    until = changes.get("tier_until")
    if until is not None and until < today:
        raise DomainError(N_("tier_until is in the past"), code="invalid_tier_until",
                          fields={"tier_until": "in the past"})
    if "gender" in changes and changes["gender"] not in GENDERS:
        raise DomainError("unknown gender", code="invalid_gender", fields={"gender": "invalid"})
    birthday = changes.get("birthday")
    if birthday is not None and (birthday > today or birthday.year < 1900):
        raise DomainError(N_("birthday is not a real date of birth"), code="invalid_birthday",
                          fields={"birthday": "invalid"})
    for name, limit in _TEXT_LIMITS.items():
        if name in changes and len(str(changes[name] or "")) > limit:
            raise DomainError(f"{name} is longer than {limit} characters", code="too_long",
                              fields={name: "too long"})
    at = at or utcnow()
    done: list[MemberChange] = []
    who = {"source": "staff", "reason": reason, "staff_id": staff_id, "at": at}
    if tier is not None:
        changed = set_tier(session, member, tier, **who)
        if changed is not None:
            done.append(changed)
        if until != member.tier_until:
            done.append(record_change(session, member, "tier_until", member.tier_until, until, **who))
            member.tier_until = until
    if "expires_on" in changes and changes["expires_on"] != member.expires_on:
        done.append(record_change(session, member, "expires_on", member.expires_on, changes["expires_on"], **who))
        member.expires_on = changes["expires_on"]
        if member.status == "expired" and member.expires_on and member.expires_on >= today:
            done.append(record_change(session, member, "status", member.status, "active", **who))
            member.status = "active"
    for name in PROFILE_FIELDS:
        if name in changes:
            value = changes[name] if name == "birthday" else str(changes[name] or "").strip()
            if value != getattr(member, name):
                done.append(record_change(session, member, name, getattr(member, name), value, **who))
                setattr(member, name, value)
    session.flush()
    return done


def changes_by_transaction(session: Session, member_id: int, transaction_id: int, *,
                           field: str | None = None) -> list[MemberChange]:
    q = select(MemberChange).where(MemberChange.member_id == member_id, MemberChange.transaction_id == transaction_id)
    if field:
        q = q.where(MemberChange.field == field)
    return list(session.scalars(q.order_by(MemberChange.id)))


def find_tier(session: Session, code: str) -> Tier | None:
    found = next((t for t in cache.cached_tiers(session) if t.code == code), None) if code else None
    return cache.attach(session, found)


def member_history(session: Session, member_id: int, *, limit: int = 200) -> list[MemberChange]:
    """The member's history, newest first."""
    return list(session.scalars(select(MemberChange).where(MemberChange.member_id == member_id)
                                .order_by(MemberChange.id.desc()).limit(limit)))
