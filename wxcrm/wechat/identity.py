"""Who an H5 visitor is, from the openid WeChat OAuth gave us. Takes a session, flushes."""
from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from wxcrm.errors import DomainError
from wxcrm.members import service as members
from wxcrm.members.models import GENDERS, Member


def member_for_openid(session: Session, openid: str, unionid: str | None = None) -> Member | None:
    """The member behind an openid (None for a visitor who does not follow yet); the
    unionid, when OAuth gave one, is kept for matching across the brand's apps."""
    member = members.find_member(session, openid=openid)
    if member is not None and unionid and member.unionid != unionid:
        member.unionid = unionid
        session.flush()
    return member


def save_profile(session: Session, member: Member, *, name: str, gender: str, birthday: date | None,
                 today: date) -> Member:
    """The member's own profile form (WeChat no longer gives nickname, gender or region)."""
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
    member.name, member.gender, member.birthday = name, gender, birthday
    session.flush()
    return member
