from __future__ import annotations

from flask_smorest import Blueprint

from wxcrm.api.auth import Forbidden, current_staff, roles_required
from wxcrm.api.schemas import (
    LedgerPageOut,
    LedgerQuery,
    MemberHistoryOut,
    MemberIn,
    MemberOut,
    MemberPatchIn,
    MemberQuery,
)
from wxcrm.benefits.events import enrol_member
from wxcrm.config import current_settings
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.members import service as members
from wxcrm.timeutil import Clock

blp = Blueprint("api_members", __name__, description="Members: create, look up, ledger history")


def member_body(member) -> dict:
    member.points_balance = ledger.balance(db.session, member.id, "points")
    member.stored_value_fen = ledger.balance(db.session, member.id, "stored_value")
    return member


@blp.route("/members", methods=["POST"])
@roles_required(blp, "cashier", "admin")
@blp.arguments(MemberIn)
@blp.response(201, MemberOut)
def create_member(data):
    """Enrol a member; a card number is issued and the signup rules give what they give."""
    settings = current_settings()
    member = enrol_member(db.session, settings, clock=Clock.now(settings.tz), **data)
    db.session.commit()
    return member_body(member)


@blp.route("/members", methods=["GET"])
@roles_required(blp, "cashier", "marketer", "admin")
@blp.arguments(MemberQuery, location="query")
@blp.response(200, MemberOut(many=True))
def find_members(query):
    """Find a member by exactly one of phone, openid or card_no."""
    if len([v for v in query.values() if v]) != 1:
        raise DomainError("give exactly one of phone, openid, card_no", code="invalid_query", status=400)
    member = members.find_member(db.session, **query)
    return [member_body(member)] if member else []


@blp.route("/members/<int:member_id>", methods=["GET"])
@roles_required(blp, "cashier", "marketer", "admin")
@blp.response(200, MemberOut)
def get_member(member_id):
    return member_body(members.get_member(db.session, member_id))


@blp.route("/members/<int:member_id>", methods=["PATCH"])
@roles_required(blp, "admin", "marketer")
@blp.arguments(MemberPatchIn)
@blp.response(200, MemberOut)
def change_member(data, member_id):
    """Change a member from the back office: the tier (a code, with `reason`, and `tier_until`
    for a tier that holds through that date), the membership expiry (admins) and the
    profile (admins and marketers). Each change is kept in the member's history with who,
    when and why."""
    staff = current_staff()
    reason = data.pop("reason", "")
    if staff.role != "admin" and set(data) - set(members.PROFILE_FIELDS):
        raise Forbidden("a marketer changes the profile only; the tier and the expiry are for admins")
    settings = current_settings()
    member = members.get_member(db.session, member_id)
    clock = Clock.now(settings.tz)
    members.change_member(db.session, member, data, staff_id=staff.id, reason=reason, today=clock.today,
                          at=clock.utc)
    db.session.commit()
    return member_body(member)


@blp.route("/members/<int:member_id>/history", methods=["GET"])
@roles_required(blp, "marketer", "admin")
@blp.response(200, MemberHistoryOut)
def member_history(member_id):
    """The member's history, newest first: tier, expiry and profile changes, who and why."""
    members.get_member(db.session, member_id)
    return {"member_id": member_id, "changes": members.member_history(db.session, member_id)}


@blp.route("/members/<int:member_id>/ledger", methods=["GET"])
@roles_required(blp, "cashier", "marketer", "admin")
@blp.arguments(LedgerQuery, location="query")
@blp.response(200, LedgerPageOut)
def member_ledger(query, member_id):
    """Entries newest first; pass next_before_id as before_id for the next page."""
    members.get_member(db.session, member_id)
    entries = ledger.entries_page(db.session, member_id, query["kind"], before_id=query["before_id"],
                                  limit=query["limit"] + 1)
    more = len(entries) > query["limit"]
    entries = entries[: query["limit"]]
    return {"kind": query["kind"], "balance": ledger.balance(db.session, member_id, query["kind"]),
            "entries": entries, "next_before_id": entries[-1].id if more else None}
