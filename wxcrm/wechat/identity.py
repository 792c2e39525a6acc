"""Who an H5 visitor is, from the openid WeChat OAuth gave us. Takes a session, flushes."""
from __future__ import annotations

from sqlalchemy.orm import Session

from wxcrm.members import service as members
from wxcrm.members.models import Member


def member_for_openid(session: Session, openid: str, unionid: str | None = None) -> Member | None:
    """The member behind an openid (None for a visitor who does not follow yet); the
    unionid, when OAuth gave one, is kept for matching across the brand's apps."""
    member = members.find_member(session, openid=openid)
    if member is not None and unionid and member.unionid != unionid:
        member.unionid = unionid
        session.flush()
    return member
