from __future__ import annotations

from flask_smorest import Blueprint

from wxcrm.api.auth import roles_required
from wxcrm.api.schemas import LedgerPageOut, LedgerQuery, MemberIn, MemberOut, MemberQuery
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
@roles_required(blp, "cashier", "manager", "admin")
@blp.arguments(MemberIn)
@blp.response(201, MemberOut)
def create_member(data):
    """Enrol a member; a card number is issued and the signup rules give what they give."""
    settings = current_settings()
    member = enrol_member(db.session, settings, clock=Clock.now(settings.tz), **data)
    db.session.commit()
    return member_body(member)


@blp.route("/members", methods=["GET"])
@roles_required(blp, "cashier", "manager", "marketer", "admin")
@blp.arguments(MemberQuery, location="query")
@blp.response(200, MemberOut(many=True))
def find_members(query):
    """Find a member by exactly one of phone, openid or card_no."""
    if len([v for v in query.values() if v]) != 1:
        raise DomainError("give exactly one of phone, openid, card_no", code="invalid_query", status=400)
    member = members.find_member(db.session, **query)
    return [member_body(member)] if member else []


@blp.route("/members/<int:member_id>", methods=["GET"])
@roles_required(blp, "cashier", "manager", "marketer", "admin")
@blp.response(200, MemberOut)
def get_member(member_id):
    return member_body(members.get_member(db.session, member_id))


@blp.route("/members/<int:member_id>/ledger", methods=["GET"])
@roles_required(blp, "cashier", "manager", "marketer", "admin")
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
