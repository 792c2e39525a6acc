"""Customer pages inside WeChat (mobile-first). The member comes from a signed
session set by WeChat OAuth (see wxcrm.wechat.oauth); never from an id in the URL."""
from __future__ import annotations

import json
import secrets
import time
from datetime import date
from functools import wraps

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from wxcrm import timeutil
from wxcrm.benefits.privacy import close_membership, member_data
from wxcrm.campaigns import consent
from wxcrm.cards import claims, codes, images, merge, phone, referral, wallet
from wxcrm.cards import service as cards
from wxcrm.cards.models import WalletMember
from wxcrm.checkout.claims import credit_claim
from wxcrm.config import current_settings
from wxcrm.coupons.models import Coupon
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.members import service as members
from wxcrm.members.models import GENDERS, Member, Store
from wxcrm.messages.dispatch import send_now
from wxcrm.sales.models import Transaction
from wxcrm.timeutil import Clock, business_date, rfc3339, utcnow
from wxcrm.web.labels import problem_text
from wxcrm.wechat.adapter.client import wechat_client

bp = Blueprint("h5", __name__)
DEMOGRAPHICS = ("district", "occupation", "education", "income_band")


def session_member() -> Member | None:
    member_id = session.get("member_id")
    return db.session.get(Member, member_id) if member_id else None


def customer_page(scope: str = "snsapi_base", *, needs_consent: bool = True):
    """A page for the member behind this WeChat user. Unknown visitors go through WeChat
    OAuth first; a visitor who does not follow yet sees the welcome page. A page that
    needs the profile scope asks for snsapi_userinfo once. A member who has not agreed to
    the privacy notice now in force is asked to first (PIPL: consent before a profile)."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not session.get("openid") or (scope == "snsapi_userinfo"
                                              and session.get("oauth_scope") != "snsapi_userinfo"):
                return redirect(url_for("wechat_oauth.start", next=request.full_path.rstrip("?"), scope=scope))
            member = session_member()
            if member is None or member.openid != session.get("openid"):
                return render_template("h5/welcome.html")
            if needs_consent and member.privacy_version != current_settings().privacy_notice_version:
                return redirect(url_for("h5.privacy_consent", next=request.full_path.rstrip("?")))
            return view(member, *args, **kwargs)
        return wrapped
    return decorator


@bp.route("/")
@customer_page()
def card(member: Member):
    settings = current_settings()
    summary = ledger.points_summary(db.session, member.id, business_date(settings.tz))
    stored = ledger.balance(db.session, member.id, "stored_value")
    confirming = False
    if request.args.get("paid"):     # back from WeChat Pay: the notify may still be on its way
        from sqlalchemy import select

        from wxcrm.topups.models import Topup
        confirming = db.session.scalar(select(Topup.status).where(
            Topup.out_trade_no == request.args["paid"], Topup.member_id == member.id)) == "pending"
    frozen = cards.is_frozen(db.session, member)
    code = None if frozen else _code_body(member)
    wallet_card = None
    if settings.wechat_card_enabled:
        wallet_card = wallet.wallet_card(db.session)
        held = db.session.get(WalletMember, member.id)
        if held is not None and held.removed_at is None:
            wallet_card = None                      # already in their WeChat wallet
    return render_template("h5/card.html", member=member, summary=summary, stored=stored, frozen=frozen,
                           code=code, coupons=member.coupons_held or 0, masked=mask_card_no(member.card_no),
                           wallet_card=wallet_card, confirming=confirming, topup_on=settings.wechat_pay_enabled,
                           membership_for_sale=_membership_for_sale())


def _membership_for_sale() -> bool:
    from sqlalchemy import exists, select

    from wxcrm.members.models import Tier
    return bool(db.session.scalar(select(exists().where(Tier.price_fen > 0))))


@bp.route("/card/wallet")
@customer_page()
def card_wallet(member: Member):
    """The cardList entry the card page hands to JS-SDK ``wx.addCard`` (cardExt signed)."""
    settings = current_settings()
    card = wallet.wallet_card(db.session) if settings.wechat_card_enabled else None
    if card is None:
        return jsonify({"code": "wallet_card_off"}), 404
    ext = wallet.card_ext(wechat_client(settings, db.engine), member, card.card_id,
                          nonce=secrets.token_hex(8), timestamp=int(time.time()))
    return jsonify({"cardId": card.card_id, "cardExt": json.dumps(ext)}), 200, {"Cache-Control": "no-store"}


def mask_card_no(card_no: str) -> str:
    return f"{card_no[:4]} •••• {card_no[-4:]}" if len(card_no) > 8 else card_no


def _code_body(member: Member) -> dict:
    settings = current_settings()
    now = timeutil.utcnow()
    code = codes.issue_member_code(db.session, member, secret=settings.member_code_secret, now=now)
    return {"token": code.token, "expires_at": rfc3339(code.expires_at),
            "refresh_in": max(1, int((code.expires_at - now).total_seconds())),
            "qr_svg": images.qr_svg(code.token), "barcode_svg": images.barcode_svg(code.token)}


@bp.route("/card/code")
@customer_page()
def card_code(member: Member):
    """The member's dynamic code now: ``token`` (20 digits), ``expires_at``, ``refresh_in``
    (seconds), and the QR and barcode as SVG. The card page fetches it every minute."""
    try:
        body = _code_body(member)
    except codes.MemberCodeRefused as exc:
        return jsonify({"code": exc.code, "detail": problem_text(exc)}), 409, {"Cache-Control": "no-store"}
    return jsonify(body), 200, {"Cache-Control": "no-store"}


@bp.route("/card/lost", methods=["GET", "POST"])
@customer_page()
def card_lost(member: Member):
    """Report the card lost (frozen at once), then take a new card number."""
    now = timeutil.utcnow()
    frozen = cards.is_frozen(db.session, member)
    if request.method == "POST":
        if request.form.get("action") == "replace" and frozen:
            cards.replace_card(db.session, current_settings(), member, at=now, source="member",
                               reason=_("new card taken on the card page"))
            db.session.commit()
            flash(_("Your new card number is ready; the old one no longer works."), "success")
            return redirect(url_for("h5.card"))
        if request.form.get("confirm") != "yes":
            flash(_("Tick the box to confirm that your card is lost."), "warning")
        else:
            cards.report_lost(db.session, member, at=now, source="member",
                              reason=_("reported lost on the card page"))
            db.session.commit()
            flash(_("Your card is frozen: nobody can spend your points or balance with it."), "success")
            return redirect(url_for("h5.card_lost"))
    return render_template("h5/card_lost.html", member=member, frozen=frozen, masked=mask_card_no(member.card_no))


@bp.route("/points")
@customer_page()
def points(member: Member):
    entries = ledger.entries_page(db.session, member.id, "points", limit=50)
    summary = ledger.points_summary(db.session, member.id, business_date(current_settings().tz))
    return render_template("h5/points.html", member=member, entries=entries, summary=summary)


@bp.route("/profile", methods=["GET", "POST"])
@customer_page(scope="snsapi_userinfo")
def profile(member: Member):
    errors: dict[str, str] = {}
    if request.method == "POST":
        raw_birthday = (request.form.get("birthday") or "").strip()
        try:
            birthday = date.fromisoformat(raw_birthday) if raw_birthday else None
            members.update_own_profile(db.session, member, name=request.form.get("name", ""),
                                       gender=request.form.get("gender", "unknown"), birthday=birthday,
                                       today=business_date(current_settings().tz),
                                       demographics={f: request.form[f] for f in DEMOGRAPHICS if f in request.form})
            db.session.commit()
            flash(_("Your profile is saved."), "success")
            return redirect(url_for("h5.card"))
        except ValueError:
            errors["birthday"] = _("Please enter a date.")
        except DomainError as exc:
            db.session.rollback()
            message = problem_text(exc)
            errors.update({name: message for name in exc.fields} or {"form": message})
    return render_template("h5/profile.html", member=member, genders=GENDERS, errors=errors,
                           form=request.form)


# ---------------------------------------------------------------- privacy (beside the profile page)

def _own_page(target: str | None) -> str:
    return target if target and target.startswith("/h5/") and "//" not in target and "\\" not in target \
        else url_for("h5.card")


@bp.route("/privacy/notice")
def privacy_notice():
    """The privacy notice, readable by anyone (before agreeing, too)."""
    return render_template("h5/privacy_notice.html", version=current_settings().privacy_notice_version)


@bp.route("/privacy/consent", methods=["GET", "POST"])
@customer_page(needs_consent=False)
def privacy_consent(member: Member):
    settings = current_settings()
    target = _own_page(request.values.get("next"))
    if request.method == "POST":
        if request.form.get("agree") != "yes":
            flash(_("To use your member pages, please agree to the privacy notice."), "warning")
        else:
            members.record_consent(db.session, member, privacy_version=settings.privacy_notice_version,
                                   marketing=request.form.get("marketing") == "yes", channel="h5")
            db.session.commit()
            return redirect(target)
    return render_template("h5/privacy_consent.html", member=member, version=settings.privacy_notice_version,
                           next=target)


@bp.route("/privacy", methods=["GET", "POST"])
@customer_page()
def privacy(member: Member):
    """Privacy and my data: marketing consent, download, close the membership."""
    if request.method == "POST":
        wanted = request.form.get("marketing") == "yes"
        if not wanted and member.marketing_consent:   # an opt-out also stops what is queued
            consent.opt_out(db.session, member, channel="h5", at=utcnow())
        else:
            members.record_consent(db.session, member, privacy_version=None, marketing=wanted, channel="h5")
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("h5.privacy"))
    return render_template("h5/privacy.html", member=member,
                           stored=ledger.balance(db.session, member.id, "stored_value"),
                           points=ledger.balance(db.session, member.id, "points"))


@bp.route("/privacy/export")
@customer_page()
def privacy_export(member: Member):
    """Everything we hold about the member, as a JSON file."""
    body = json.dumps(member_data(db.session, member), ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f"attachment; filename=member-{member.card_no}.json",
                             "Cache-Control": "no-store"})


@bp.route("/privacy/close", methods=["GET", "POST"])
@customer_page()
def privacy_close(member: Member):
    settings = current_settings()
    stored = ledger.value_split(db.session, member.id)
    points = ledger.balance(db.session, member.id, "points")
    if request.method == "POST":
        if request.form.get("confirm") != "yes":
            flash(_("Tick the box to confirm that you want to close your membership."), "warning")
        else:
            card_no = member.card_no
            closure = close_membership(db.session, member, clock=Clock.now(settings.tz), settings=settings)
            db.session.commit()
            session.clear()
            return render_template("h5/privacy_closed.html", closure=closure, card_no=card_no)
    return render_template("h5/privacy_close.html", member=member, stored=stored, points=points)


# ---------------------------------------------------------------- stored value

@bp.route("/topup")
@customer_page()
def topup(member: Member):
    """Top up by WeChat Pay: preset amounts showing their bonus, and a custom amount."""
    from wxcrm.config import topup_presets
    from wxcrm.topups.service import preview_bonus
    settings = current_settings()
    presets = topup_presets(settings.topup_presets_fen)
    bonuses = preview_bonus(db.session, member, presets, settings=settings, clock=Clock.now(settings.tz))
    split = ledger.value_split(db.session, member.id)
    db.session.rollback()              # the preview locked nothing worth keeping
    return render_template("h5/topup.html", member=member, presets=presets, bonuses=bonuses, split=split,
                           pay_enabled=settings.wechat_pay_enabled, min_fen=settings.topup_min_fen,
                           cap_fen=settings.stored_value_cap_fen, standin=settings.wechat_api_base)


@bp.post("/topups")
@customer_page()
def create_topup(member: Member):
    """JSON {"amount_fen": N}: the WeChat Pay order and the JSAPI parameters for
    WeixinJSBridge's getBrandWCPayRequest."""
    from flask import jsonify

    from wxcrm.topups import wechat as wechat_topups
    settings = current_settings()
    data = request.get_json(silent=True) or {}
    amount = data.get("amount_fen")
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= 10**9:
        return _problem(DomainError("amount_fen must be a whole number of fen", code="invalid_amount"))
    clock = Clock.now(settings.tz)
    try:
        topup = wechat_topups.create_pending_topup(db.session, member, amount, clock=clock, settings=settings)
        db.session.commit()          # the order exists before WeChat hears of it
        jsapi = wechat_topups.place_order(topup, member, clock=clock, settings=settings,
                                          client_ip=request.remote_addr or "")
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        return _problem(exc)
    return jsonify({"out_trade_no": topup.out_trade_no, "jsapi": jsapi,
                    "card_url": url_for("h5.card", paid=topup.out_trade_no)}), 201


@bp.route("/membership")
@customer_page()
def membership(member: Member):
    """Paid membership: the tiers for sale with their price and term, bought by WeChat Pay
    (the same payment as a top-up); back from paying, the new membership or its confirmation."""
    from sqlalchemy import select

    from wxcrm.topups.membership import tiers_for_sale
    from wxcrm.topups.models import MembershipPurchase
    settings = current_settings()
    confirming = paid = None
    if request.args.get("paid"):
        found = db.session.scalar(select(MembershipPurchase).where(
            MembershipPurchase.out_trade_no == request.args["paid"], MembershipPurchase.member_id == member.id))
        if found is not None:
            confirming, paid = found.status == "pending", found.status == "paid"
    return render_template("h5/membership.html", member=member, tiers=tiers_for_sale(db.session),
                           pay_enabled=settings.wechat_pay_enabled, confirming=confirming, paid=paid,
                           standin=settings.wechat_api_base)


@bp.post("/memberships")
@customer_page()
def create_membership_order(member: Member):
    """JSON {"tier": code}: the WeChat Pay order for a paid membership and the JSAPI
    parameters for WeixinJSBridge's getBrandWCPayRequest (as ``POST /h5/topups``)."""
    from wxcrm.topups import wechat as wechat_orders
    from wxcrm.web.labels import tier_name
    settings = current_settings()
    data = request.get_json(silent=True) or {}
    code = data.get("tier")
    if not isinstance(code, str) or not 0 < len(code) <= 32:
        return _problem(DomainError("tier must be a tier code", code="tier_not_found", status=404))
    clock = Clock.now(settings.tz)
    try:
        purchase = wechat_orders.create_pending_membership(db.session, member, code, clock=clock, settings=settings)
        db.session.commit()          # the order exists before WeChat hears of it
        from wxcrm.members.models import Tier
        tier = db.session.get(Tier, purchase.tier_id)
        jsapi = wechat_orders.place_order(purchase, member, clock=clock, settings=settings,
                                          client_ip=request.remote_addr or "",
                                          what=f"{tier.name} {purchase.months}个月")
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        return _problem(exc)
    return jsonify({"out_trade_no": purchase.out_trade_no, "jsapi": jsapi, "tier": tier_name(tier),
                    "card_url": url_for("h5.membership", paid=purchase.out_trade_no)}), 201


def _problem(exc: DomainError):
    from flask import jsonify
    res = jsonify({"type": "about:blank", "title": "Request cannot be processed", "status": exc.status,
                   "code": exc.code, "detail": problem_text(exc)})
    res.status_code = exc.status
    res.mimetype = "application/problem+json"
    return res


@bp.route("/stored-value")
@customer_page()
def stored_value(member: Member):
    """The balance, principal and bonus apart, and its history."""
    entries = ledger.entries_page(db.session, member.id, "stored_value", limit=50)
    split = ledger.value_split(db.session, member.id)
    return render_template("h5/stored_value.html", member=member, entries=entries, split=split)


# ---------------------------------------------------------------- scan-to-earn (a receipt's QR)

@bp.route("/claim/<token>", methods=["GET", "POST"])
@customer_page()
def claim(member: Member, token: str):
    """A receipt's QR, scanned in WeChat: the purchase, and a button that credits its points."""
    settings = current_settings()
    try:
        found = claims.find_claim(db.session, token)
    except DomainError as exc:
        return render_template("h5/claim.html", error=problem_text(exc), claim=None), 404
    txn = db.session.get(Transaction, found.transaction_id)
    store = db.session.get(Store, found.store_id)
    if request.method == "POST":
        try:
            credit_claim(db.session, settings, token=token, member=member, now=Clock.now(settings.tz))
            db.session.commit()
            return redirect(url_for("h5.claim", token=token))     # the page says what it gave (and coupons)
        except DomainError as exc:
            db.session.rollback()
            flash(problem_text(exc), "danger")
            found = claims.find_claim(db.session, token)
    refunded = db.session.scalar(select(func.coalesce(func.sum(Transaction.payable_fen), 0))
                                 .where(Transaction.original_id == txn.id, Transaction.kind == "refund"))
    mine = found.member_id == member.id
    return render_template("h5/claim.html", claim=found, txn=txn, store=store, mine=mine,
                           coupons=_claimed_coupons(member, found.transaction_id) if mine else 0,
                           expired=found.expires_at <= timeutil.utcnow(), error=None, refunded_fen=int(refunded or 0))


def _claimed_coupons(member: Member, transaction_id: int) -> int:
    """Coupons the purchase rules gave this member for claiming the receipt (scan-to-earn)."""
    return db.session.scalar(select(func.count(Coupon.id)).where(
        Coupon.member_id == member.id, Coupon.channel == "scan",
        Coupon.source_ref.like(f"purchase:{transaction_id}:%"))) or 0


# ---------------------------------------------------------------- binding a membership by phone

def _text_code(settings, message, phone_no: str) -> bool:
    """A one-time code queued for a phone (binding, verifying): committed, then sent at once
    (the member waits for it), and the page says where it went. Returns True (sent)."""
    db.session.commit()
    if message.status == "pending":
        send_now(db.session, settings, message.id)
        db.session.commit()
    flash(_("A code was texted to %(p)s.", p=members.mask_phone(phone_no)), "success")
    return True


@bp.route("/bind", methods=["GET", "POST"])
@customer_page()
def bind(member: Member):
    """A follower who was already a member (enrolled at the till, by phone, imported) binds
    their WeChat to that membership with a code texted to its phone, instead of keeping a
    second card."""
    settings = current_settings()
    phone = (request.form.get("phone") or "").strip()
    sent = False
    if request.method == "POST":
        now = timeutil.utcnow()
        try:
            if request.form.get("action") == "send":
                sent = _text_code(settings, merge.send_bind_code(db.session, settings, follower=member, phone=phone,
                                                                 now=now), phone)
            else:
                kept = merge.bind_follower(db.session, settings, follower=member, phone=phone,
                                           code=request.form.get("code", ""), now=now)
                db.session.commit()
                session["member_id"] = kept.id
                flash(_("Your WeChat is now bound to your membership %(no)s.", no=mask_card_no(kept.card_no)),
                      "success")
                return redirect(url_for("h5.card"))
        except DomainError as exc:
            if exc.code == "bind_code_wrong":
                db.session.commit()          # the wrong try counts
                sent = True
            else:
                db.session.rollback()
                sent = request.form.get("action") != "send"
            flash(problem_text(exc), "danger")
    return render_template("h5/bind.html", member=member, phone=phone, sent=sent)


# ---------------------------------------------------------------- the referral poster

@bp.route("/invite")
@customer_page()
def invite(member: Member):
    """The member's own QR code for friends, with what the referral rules give."""
    settings = current_settings()
    error = None
    qr = None
    try:
        qr = referral.referral_qr(db.session, wechat_client(settings, db.engine), member, now=timeutil.utcnow())
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        error = problem_text(exc)
    zh = str(get_locale()).startswith("zh")
    rewards = [z if zh else e for z, e in referral.referral_rewards(db.session)]
    return render_template("h5/invite.html", member=member, error=error, rewards=rewards,
                           qr_svg=images.qr_svg(qr.url) if qr else None,
                           until=qr.expires_at if qr else None)


@bp.route("/profile/phone", methods=["GET", "POST"])
@customer_page(scope="snsapi_userinfo")
def profile_phone(member: Member):
    """The member's phone, verified by a code texted to it."""
    settings = current_settings()
    phone_no = (request.form.get("phone") or "").strip()
    sent = False
    if request.method == "POST":
        now = timeutil.utcnow()
        try:
            if request.form.get("action") == "send":
                sent = _text_code(settings, phone.send_phone_code(db.session, settings, member=member, phone=phone_no,
                                                                  now=now), phone_no)
            else:
                phone.verify_phone(db.session, settings, member=member, phone=phone_no,
                                   code=request.form.get("code", ""), now=now)
                db.session.commit()
                flash(_("Your phone number is verified."), "success")
                return redirect(url_for("h5.profile"))
        except DomainError as exc:
            if exc.code == "phone_code_wrong":
                db.session.commit()          # the wrong try counts
                sent = True
            else:
                db.session.rollback()
                sent = request.form.get("action") != "send"
            flash(problem_text(exc), "danger")
    return render_template("h5/profile_phone.html", member=member, phone=phone_no, sent=sent,
                           masked=members.mask_phone(member.phone))
