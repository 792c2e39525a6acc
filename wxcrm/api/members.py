"""Members over the API. What staff see follows their role: cashiers and managers get the till's
view (no demographics, a masked phone); admins and marketers the whole profile. Look-ups are by
card, member code or phone, limited per token and logged; a till opens a member by id only after
looking them up (or enrolling them), so walking ids finds nothing."""
from __future__ import annotations

import hashlib

from flask import current_app, jsonify, request
from flask_smorest import Blueprint
from sqlalchemy.orm.attributes import set_committed_value

from wxcrm import timeutil
from wxcrm.api.auth import Forbidden, current_staff, roles_required
from wxcrm.api.schemas import (
    TILL_HIDDEN,
    CardActionIn,
    LedgerPageOut,
    LedgerQuery,
    MemberHistoryOut,
    MemberIn,
    MemberOut,
    MemberPatchIn,
    MemberQuery,
    MergeIn,
    PresenceCodeIn,
    PresenceCodeOut,
)
from wxcrm.benefits.events import enrol_member
from wxcrm.cards import merge, presence
from wxcrm.cards import service as cards
from wxcrm.config import current_settings
from wxcrm.errors import DomainError, NotFound
from wxcrm.extensions import db, limiter
from wxcrm.ledger import service as ledger
from wxcrm.members import service as members
from wxcrm.messages.dispatch import send_now
from wxcrm.timeutil import Clock

blp = Blueprint("api_members", __name__, description="Members: create, look up, ledger history")


def member_body(member) -> dict:
    member.points_balance, member.stored_value_fen, split = ledger.member_holdings(db.session, member.id)
    member.stored_value_principal_fen, member.stored_value_bonus_fen = split.principal, split.bonus
    # The tier and home store come from the worker's cache, set on the member as loaded: so
    # they load without a query. (Attached alone they would not stay: the session holds an
    # unchanged instance weakly, and one nobody refers to is gone before the dump asks.)
    tier = next((t for t in members.tiers_by_rank(db.session) if t.id == member.tier_id), None)
    if tier is not None or member.tier_id is None:
        set_committed_value(member, "tier", tier)
    store = members.store_by_id(db.session, member.home_store_id) if member.home_store_id else None
    if store is not None:
        set_committed_value(member, "home_store", store)
    return member


# Made once (issue 11): a schema built per look-up deep-copied its 25 fields, about 0.6 ms.
MEMBER_OUT = MemberOut()
MEMBER_OUT_AT_TILL = MemberOut(exclude=TILL_HIDDEN)


def member_view(member, status: int = 200):
    """The member as this staff member's role may see them."""
    staff = current_staff()
    member_body(member)
    if not staff.works_at_a_store:
        return jsonify(MEMBER_OUT.dump(member)), status
    body = MEMBER_OUT_AT_TILL.dump(member)
    body["phone"] = members.mask_phone(body.get("phone"))
    return jsonify(body), status


def _lookup_key() -> str:
    """Per bearer token (hashed: the key never holds the token itself)."""
    return "member-lookup:" + hashlib.sha256(request.headers.get("Authorization", "").encode()).hexdigest()[:32]


def _opened_by_till(member_id: int):
    """A cashier or manager opens a member by id only after a look-up or an enrolment."""
    staff = current_staff()
    member = members.get_member(db.session, member_id)
    if staff.works_at_a_store and not members.recently_accessed(db.session, staff_id=staff.id, member_id=member_id):
        raise NotFound(f"no member {member_id} looked up at this till", code="member_not_found")
    return member


@blp.route("/members", methods=["POST"])
@roles_required(blp, "cashier", "manager", "admin")
@blp.arguments(MemberIn)
@blp.response(201, MemberOut)
def create_member(data):
    """Enrol a member, with their consent to the privacy notice (`privacy_consent: true`); a card
    number is issued and the signup rules give what they give."""
    settings = current_settings()
    staff = current_staff()
    member = enrol_member(db.session, settings, clock=Clock.now(settings.tz), staff_id=staff.id, **data)
    members.log_access(db.session, staff_id=staff.id, member_id=member.id, action="enrol", channel="api")
    db.session.commit()
    return member_view(member, 201)


MEMBER_QUERY = MemberQuery()     # made once: a class would be instantiated per look-up (issue 11)


@blp.route("/members", methods=["GET"])
@limiter.limit(lambda: current_app.config["WXCRM_MEMBER_LOOKUP_LIMIT"], key_func=_lookup_key,
               scope="member-lookup")
@roles_required(blp, "cashier", "manager", "marketer", "admin")
@blp.arguments(MEMBER_QUERY, location="query")
@blp.response(200, MemberOut(many=True))
@blp.alt_response(429, description="Too many look-ups with this token")
def find_members(query):
    """Find a member by exactly one of card_no, code or phone (openid: admins and marketers).
    Limited per token (WXCRM_MEMBER_LOOKUP_LIMIT) and logged."""
    given = {k: v for k, v in query.items() if v}
    if len(given) != 1:
        raise DomainError("give exactly one of card_no, qr_token, phone", code="invalid_query", status=400)
    staff = current_staff()
    if "openid" in given and staff.works_at_a_store:
        raise DomainError("the till looks members up by card, member code or phone", code="invalid_query",
                          status=400)
    if "qr_token" in given:
        settings = current_settings()
        member = cards.member_for_code(db.session, settings, given["qr_token"], now=timeutil.utcnow())
    else:
        member = members.find_member(db.session, **given)
        if member is None and "card_no" in given:
            try:
                cards.refuse_unknown_card(db.session, given["card_no"])
            except DomainError as exc:
                if exc.code != "member_not_found":
                    raise
    members.log_access(db.session, staff_id=staff.id, member_id=member.id if member else None, action="lookup",
                       channel="api", detail=f"by {next(iter(given))}" + ("" if member else ", no match"))
    body = member_view(member)[0].get_json() if member is not None else None   # before the commit expires it
    db.session.commit()
    return jsonify([body] if body is not None else []), 200


@blp.route("/members/<int:member_id>", methods=["GET"])
@roles_required(blp, "cashier", "manager", "marketer", "admin")
@blp.response(200, MemberOut)
def get_member(member_id):
    """A member by id. At the till (cashier, manager): only one looked up or enrolled there in
    the last 12 hours; any other id is a 404, so walking ids finds nothing."""
    member = _opened_by_till(member_id)
    members.log_access(db.session, staff_id=current_staff().id, member_id=member.id, action="view", channel="api")
    db.session.commit()
    return member_view(member)


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
@roles_required(blp, "cashier", "manager", "marketer", "admin")
@blp.arguments(LedgerQuery, location="query")
@blp.response(200, LedgerPageOut)
def member_ledger(query, member_id):
    """Entries newest first; pass next_before_id as before_id for the next page."""
    _opened_by_till(member_id)
    members.log_access(db.session, staff_id=current_staff().id, member_id=member_id, action="ledger", channel="api")
    db.session.commit()
    entries = ledger.entries_page(db.session, member_id, query["kind"], before_id=query["before_id"],
                                  limit=query["limit"] + 1)
    more = len(entries) > query["limit"]
    entries = entries[: query["limit"]]
    return {"kind": query["kind"], "balance": ledger.balance(db.session, member_id, query["kind"]),
            "entries": entries, "next_before_id": entries[-1].id if more else None}


# ---------------------------------------------------------------- cards: presence, loss, replacement

@blp.route("/members/presence-codes", methods=["POST"])
@limiter.limit(lambda: current_app.config["WXCRM_MEMBER_LOOKUP_LIMIT"], key_func=_lookup_key,
               scope="member-lookup")
@roles_required(blp, "cashier", "manager", "admin")
@blp.arguments(PresenceCodeIn)
@blp.response(202, PresenceCodeOut)
def send_presence_code(data):
    """Send the member a one-time code (WeChat, else SMS) that lets this sale spend their
    points or balance without their member code: the sale then sends `{"member": {"card_no":
    ..., "presence_code": "123456"}}`. Valid 5 minutes; 5 wrong tries lock it. The code is
    never in this answer, nor in the console's outbox."""
    settings = current_settings()
    staff = current_staff()
    if bool(data.get("card_no")) == bool(data.get("phone")):
        raise DomainError("give card_no or phone", code="invalid_query", status=400)
    store = members.store_by_code(db.session, data["store_code"]) if data.get("store_code") else staff.store
    member = presence.member_for_presence(db.session, card_no=data.get("card_no"), phone=data.get("phone"))
    now = timeutil.utcnow()
    row, message = presence.request_presence_code(db.session, settings, member=member, store=store, staff=staff,
                                                  now=now)
    members.log_access(db.session, staff_id=staff.id, member_id=member.id, action="presence", channel="api")
    db.session.commit()
    sent = send_now(db.session, settings, message.id) if message.status == "pending" else False
    db.session.commit()
    return {"member_id": member.id, "channel": row.channel or None, "sent": sent,
            "expires_at": row.expires_at}, 202


@blp.route("/members/<int:member_id>/card/lost", methods=["POST"])
@roles_required(blp, "cashier", "manager", "admin")
@blp.arguments(CardActionIn)
@blp.response(200, MemberOut)
def card_lost(data, member_id):
    """The member reports their card lost: it is frozen at once (spends nothing)."""
    member = _opened_by_till(member_id)
    cards.report_lost(db.session, member, at=timeutil.utcnow(), source="staff", staff_id=current_staff().id,
                      reason=data["reason"])
    db.session.commit()
    return member_view(member)


@blp.route("/members/<int:member_id>/card/replace", methods=["POST"])
@roles_required(blp, "cashier", "manager", "admin")
@blp.arguments(CardActionIn)
@blp.response(200, MemberOut)
def card_replace(data, member_id):
    """Issue the member a new card number: points, balance, coupons, tier and history carry
    over; the old number and every member code issued before are refused from now on."""
    member = _opened_by_till(member_id)
    cards.replace_card(db.session, current_settings(), member, at=timeutil.utcnow(), source="staff",
                       staff_id=current_staff().id, reason=data["reason"])
    members.log_access(db.session, staff_id=current_staff().id, member_id=member.id, action="card",
                       channel="api", detail="card replaced")
    db.session.commit()
    return member_view(member)


@blp.route("/members/<int:member_id>/merge", methods=["POST"])
@roles_required(blp, "admin")
@blp.arguments(MergeIn)
@blp.response(200, MemberOut)
def merge_member(data, member_id):
    """Merge another member of the same person (``card_no``) into this one: points (with their
    dates) and stored value move by ledger entries that name the merge, sales follow, and
    the other card is closed and its number refused at the till."""
    keep = members.get_member(db.session, member_id)
    away = members.find_member(db.session, card_no=data["card_no"])
    if away is None:
        raise NotFound("no member with that card", code="member_not_found", fields={"card_no": "unknown"})
    merge.merge_members(db.session, keep=keep, away=away, at=timeutil.utcnow(), source="staff",
                        staff_id=current_staff().id, reason=data["reason"], settings=current_settings())
    db.session.commit()
    return member_body(keep)
