"""The till page: ring up a purchase for a member by card number, print the receipt, and
refund a purchase (whole or by line) from its receipt or the sales history."""
from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from wxcrm import timeutil
from wxcrm.cards import images, presence
from wxcrm.cards import service as cards
from wxcrm.cards.codes import looks_like_member_code
from wxcrm.checkout import service as checkout
from wxcrm.config import current_settings
from wxcrm.coupons.codes import pretty
from wxcrm.coupons.words import reason_text
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.idempotency import IdempotencyConflict, run_once
from wxcrm.ledger import service as ledger
from wxcrm.members import service as members
from wxcrm.members.models import Member, Staff, Store
from wxcrm.messages.dispatch import send_now
from wxcrm.money import fen_to_yuan_str, yuan_str_to_fen
from wxcrm.sales.models import Transaction, TransactionItem
from wxcrm.timeutil import Clock
from wxcrm.topups import service as topups
from wxcrm.topups.models import TOPUP_METHODS, Topup
from wxcrm.web.auth import role_required
from wxcrm.web.labels import problem_text
from wxcrm.web.paging import page_arg

bp = Blueprint("cashier", __name__)
PAGE_SIZE = 50
TILL_PAYMENT_METHODS = ("wechat_pay", "alipay", "card", "cash", "other")
REFUNDERS = ("manager", "admin")   # a cashier calls the store manager for a refund


def _stores_for(user) -> list[Store]:
    if user.works_at_a_store:
        return [user.store] if user.store else []
    return list(db.session.scalars(select(Store).where(Store.active.is_(True)).order_by(Store.code)))


def price_to_fen(text: str) -> int:
    """A price typed in yuan: '18', '1.5' and '16.50' are fine; raises ValueError with the
    reason ('decimals' for more than two decimals, 'amount' for anything else)."""
    text = (text or "").strip()
    whole, dot, frac = text.partition(".")
    if dot and len(frac) > 2 and frac.isdigit() and (whole.isdigit() or not whole):
        raise ValueError("decimals")
    try:
        fen = yuan_str_to_fen(text)
    except ValueError:
        raise ValueError("amount") from None
    if fen < 0:
        raise ValueError("amount")
    return fen


def _basket_from_form(form) -> tuple[list[dict], list[str]]:
    """Rows of sku / category / qty / price (yuan) -> items in fen; errors name the row and why."""
    items, errors = [], []
    for i, (sku, category, qty, price) in enumerate(zip(form.getlist("sku"), form.getlist("category"),
                                                       form.getlist("qty"), form.getlist("price"))):
        if not sku.strip() and not price.strip():
            continue
        try:
            qty_n = int(qty)
            if qty_n <= 0:
                raise ValueError
        except ValueError:
            errors.append(_("Row %(n)d: the quantity must be a whole number above 0.", n=i + 1))
            continue
        try:
            price_fen = price_to_fen(price)
        except ValueError as exc:
            errors.append(_("Row %(n)d: “%(p)s” has more than two decimals; a price is in yuan and fen, "
                            "such as 1.99.", n=i + 1, p=price.strip()) if str(exc) == "decimals"
                          else _("Row %(n)d: the price must be an amount in yuan, such as 18 or 16.50.", n=i + 1))
            continue
        items.append({"sku": sku.strip() or "ITEM", "category": category.strip(), "qty": qty_n,
                      "unit_price_fen": price_fen})
    return items, errors


@bp.route("/", methods=["GET", "POST"])
@role_required("cashier", "manager", "admin")
def till():
    settings = current_settings()
    stores = _stores_for(current_user)
    member = None
    summary = None
    stored = None
    card_no = (request.values.get("card_no") or "").strip()
    qr_token = (request.values.get("qr_token") or "").strip()
    if looks_like_member_code(card_no):          # the scanner typed the member's dynamic code
        qr_token, card_no = card_no, ""
    if qr_token:
        try:
            member = cards.member_for_code(db.session, settings, qr_token, now=timeutil.utcnow())
            card_no = member.card_no
        except DomainError as exc:
            flash(problem_text(exc), "warning")
            qr_token = ""
    elif card_no:
        member = members.find_member(db.session, card_no=card_no) or members.find_member(db.session, phone=card_no)
        if member is None:
            try:
                cards.refuse_unknown_card(db.session, card_no)
            except DomainError as exc:
                flash(problem_text(exc) if exc.code != "member_not_found"
                      else _("No member with card or phone %(c)s.", c=card_no), "warning")
    if member is not None:
        summary = ledger.points_summary(db.session, member.id, Clock.now(settings.tz).today)
        stored = ledger.value_split(db.session, member.id)

    if request.method == "POST" and request.form.get("action") in ("report_lost", "replace_card") \
            and member is not None:
        return _card_lost_or_replaced(member, settings, request.form.get("action"))

    if request.method == "POST" and request.form.get("action") == "top_up" and member is not None:
        done = _top_up_at_till(member, settings)
        if done is not None:
            return done

    if request.method == "POST" and request.form.get("action") == "buy_membership" and member is not None:
        _buy_membership_at_till(member, settings)
        return redirect(url_for("cashier.till", card_no=member.card_no))

    if request.method == "POST" and request.form.get("action") == "send_presence" and member is not None:
        try:
            _row, message = presence.request_presence_code(db.session, settings, member=member,
                                                           store=current_user.store, staff=current_user,
                                                           now=timeutil.utcnow())
            db.session.commit()
            if message.status == "pending":
                send_now(db.session, settings, message.id)
                db.session.commit()
                flash(_("A one-time code was sent to the member. Type it in below."), "success")
            else:
                flash(_("The member cannot be reached by WeChat or SMS: ask them to show their member code."),
                      "warning")
        except DomainError as exc:
            db.session.rollback()
            flash(problem_text(exc), "warning")
        return redirect(url_for("cashier.till", card_no=member.card_no))

    if request.method == "POST" and request.form.get("action") == "ring_up":
        items, errors = _basket_from_form(request.form)
        if not items and not errors:
            errors.append(_("Add at least one item."))
        try:
            points = int(request.form.get("points_to_use") or 0)
            if points < 0:
                raise ValueError
        except ValueError:
            errors.append(_("Points to use must be a whole number."))
            points = 0
        method = request.form.get("payment_method") or "cash"
        payments = None
        value_text = (request.form.get("stored_value_yuan") or "").strip()
        if member is not None and value_text not in ("", "0"):
            try:
                value_fen = price_to_fen(value_text)
            except ValueError:
                errors.append(_("Stored value to use must be an amount in yuan, such as 30 or 12.50."))
                value_fen = 0
            if value_fen:   # stored value first, the chosen method pays the rest
                payments = [{"method": "stored_value", "amount_fen": value_fen}, {"method": method}]
        if not errors:
            payload = {"store_code": request.form.get("store_code", ""),
                       "member": _member_ref(member, qr_token, request.form.get("presence_code", "")),
                       "items": items, "points_to_use": points,
                       "payment_method": method, "payments": payments,
                       "coupon_codes": _coupon_codes(request.form)}

            def write():
                txn = checkout.ring_up_purchase(db.session, staff=current_user, clock=Clock.now(settings.tz),
                                                settings=settings, store_code=payload["store_code"], items=items,
                                                member_ref=payload["member"], points_to_use=points,
                                                payment_method=payload["payment_method"], payments=payments,
                                                coupon_codes=payload["coupon_codes"])
                return 201, txn.receipt

            try:
                _status, body, _replayed = run_once(db.session, f"till:{current_user.id}", request.form.get("idempotency_key", "")[:128],
                                                    payload, write)
                db.session.commit()
                return redirect(url_for("cashier.receipt", transaction_id=body["id"]))
            except (DomainError, IdempotencyConflict) as exc:
                db.session.rollback()
                errors.append(problem_text(exc) if isinstance(exc, DomainError)
                              else _("This sale was already rung up with a different basket."))
        for e in errors:
            flash(e, "danger")

    from wxcrm.topups.membership import MEMBERSHIP_METHODS, tiers_for_sale
    return render_template("cashier/till.html", stores=stores, member=member, summary=summary, card_no=card_no,
                           stored=stored, topup_methods=TOPUP_METHODS,
                           frozen=member is not None and cards.is_frozen(db.session, member),
                           membership_methods=MEMBERSHIP_METHODS,
                           tiers_for_sale=tiers_for_sale(db.session) if member is not None else [],
                           qr_token=qr_token,
                           idempotency_key=str(uuid.uuid4()), payment_methods=TILL_PAYMENT_METHODS,
                           point_value_fen=settings.point_value_fen, max_share_pct=settings.points_max_share_pct,
                           rows=_rows_for_redisplay(request.form) if request.method == "POST" else None)


def _card_lost_or_replaced(member: Member, settings, action: str):
    """The member at the counter says their card is lost (frozen at once), or takes a new
    card number (the old one and every member code before it stop working)."""
    reason = (request.form.get("reason") or "").strip()[:255]
    if not reason:
        flash(_("Say why."), "warning")
        return redirect(url_for("cashier.till", card_no=member.card_no))
    now = timeutil.utcnow()
    try:
        if action == "report_lost":
            cards.report_lost(db.session, member, at=now, source="staff", staff_id=current_user.id, reason=reason)
            message = _("The card is frozen: nobody can spend its points or stored value until it is replaced.")
        else:
            old = member.card_no
            cards.replace_card(db.session, settings, member, at=now, source="staff", staff_id=current_user.id,
                               reason=reason)
            message = _("New card number %(new)s; %(old)s no longer works.", new=member.card_no, old=old)
        members.log_access(db.session, staff_id=current_user.id, member_id=member.id, action="card", channel="till",
                           detail="card reported lost" if action == "report_lost" else "card replaced")
        db.session.commit()
        flash(message, "success")
    except DomainError as exc:
        db.session.rollback()
        flash(problem_text(exc), "danger")
    return redirect(url_for("cashier.till", card_no=member.card_no))


def _top_up_at_till(member: Member, settings):
    """The till's top-up form: the money taken in cash, card, WeChat Pay or other; then the slip."""
    try:
        fen = price_to_fen(request.form.get("topup_yuan") or "")
        if fen <= 0:
            raise ValueError
    except ValueError:
        flash(_("The top-up must be an amount in yuan, such as 500."), "danger")
        return None
    payload = {"store_code": request.form.get("store_code", ""), "member": {"card_no": member.card_no},
               "amount_fen": fen, "method": request.form.get("topup_method") or "cash"}

    def write():
        topup = topups.top_up_at_counter(db.session, store_code=payload["store_code"], member_ref=payload["member"],
                                         amount_fen=fen, method=payload["method"], clock=Clock.now(settings.tz),
                                         settings=settings, staff=current_user)
        return 201, topup.receipt

    try:
        _status, body, _replayed = run_once(db.session, f"till-topup:{current_user.id}",
                                            request.form.get("idempotency_key", "")[:128], payload, write)
        db.session.commit()
        return redirect(url_for("cashier.topup_slip", topup_id=body["id"]))
    except (DomainError, IdempotencyConflict) as exc:
        db.session.rollback()
        flash(problem_text(exc) if isinstance(exc, DomainError)
              else _("This top-up was already made with a different amount."), "danger")
        return None


def _buy_membership_at_till(member: Member, settings) -> None:
    """The till's paid-membership form: a tier for its term, paid with money taken at the
    counter or with stored value (which needs the member code or a one-time code)."""
    from wxcrm.topups import membership
    method = request.form.get("membership_method") or "cash"
    ref = _member_ref(member, (request.form.get("qr_token") or "").strip(), request.form.get("presence_code") or "")
    payload = {"store_code": request.form.get("store_code", ""), "member": ref,
               "tier": request.form.get("tier", ""), "method": method}

    def write():
        bought = membership.buy_membership(db.session, store_code=payload["store_code"], member_ref=ref,
                                           tier_code=payload["tier"], method=method, clock=Clock.now(settings.tz),
                                           settings=settings, staff=current_user)
        return 201, bought.receipt

    try:
        _status, body, _replayed = run_once(db.session, f"till-membership:{current_user.id}",
                                            request.form.get("idempotency_key", "")[:128], payload, write)
        db.session.commit()
        flash(_("Membership bought: %(tier)s, valid until %(d)s.", tier=body["tier_name"], d=body["expires_on"]),
              "success")
    except (DomainError, IdempotencyConflict) as exc:
        db.session.rollback()
        flash(problem_text(exc) if isinstance(exc, DomainError)
              else _("This membership was already bought with a different choice."), "danger")


@bp.route("/topup/<int:topup_id>")
@role_required("cashier", "manager", "admin")
def topup_slip(topup_id: int):
    """The printed slip of a top-up at the counter."""
    topup = db.get_or_404(Topup, topup_id)
    if current_user.works_at_a_store and topup.store_id != current_user.store_id:
        abort(403)
    store = db.session.get(Store, topup.store_id) if topup.store_id else None
    staff = db.session.get(Staff, topup.staff_id) if topup.staff_id else None
    member = db.session.get(Member, topup.member_id)
    return render_template("cashier/topup_slip.html", topup=topup, r=topup.receipt, store=store, staff=staff,
                           member=member)


def _member_ref(member: Member | None, qr_token: str, presence_code: str) -> dict | None:
    """The sale's member: by the scanned member code (which lets it spend), else by card
    number with the one-time code the member read out, if any."""
    if member is None:
        return None
    if qr_token:
        return {"qr_token": qr_token}
    ref = {"card_no": member.card_no}
    if presence_code.strip():
        ref["presence_code"] = presence_code.strip()[:12]
    return ref


def _preview_member(form, card_no: str) -> dict | None:
    """The preview names the member as the sale will: the scanned code, else the card number
    with the one-time code typed so far."""
    qr_token = (form.get("qr_token") or "").strip()
    if qr_token:
        return {"qr_token": qr_token}
    if not card_no:
        return None
    code = (form.get("presence_code") or "").strip()
    return {"card_no": card_no, "presence_code": code} if code.isdigit() and len(code) == 6 else {"card_no": card_no}


def _coupon_codes(form) -> list[str]:
    return (form.get("coupon_codes") or "").replace("，", ",").replace(",", " ").split()[:20]


@bp.route("/preview", methods=["POST"])
@role_required("cashier", "manager", "admin")
def preview():
    """The till's live preview (JSON for till.js): what ringing up this basket would give now,
    the rules' discounts and the coupons chosen, writing nothing."""
    settings = current_settings()
    items, errors = _basket_from_form(request.form)
    if errors or not items:
        return {"error": errors[0] if errors else ""}
    card_no = (request.form.get("card_no") or "").strip()
    try:
        points = max(int(request.form.get("points_to_use") or 0), 0)
    except ValueError:
        points = 0
    try:
        body = checkout.preview_purchase(db.session, settings=settings, staff=current_user, items=items,
                                         store_code=request.form.get("store_code", ""),
                                         member_ref=_preview_member(request.form, card_no), points_to_use=points,
                                         payment_method=request.form.get("payment_method") or "cash",
                                         coupon_codes=_coupon_codes(request.form))
    except DomainError as exc:
        db.session.rollback()
        return {"error": problem_text(exc)}
    db.session.rollback()
    zh = str(get_locale()).startswith("zh")
    shown = ("discount", "coupon_used", "points_redeemed", "payable", "points")
    return {"lines": [{"kind": ln["kind"], "text": ln["text"] if zh else ln["text_en"],
                       "amount": fen_to_yuan_str(ln["amount_fen"]) if "amount_fen" in ln else None,
                       "points": ln.get("points")}
                      for ln in body["receipt_lines"] if ln["kind"] in shown],
            "payable": fen_to_yuan_str(body["payable_fen"]),
            "not_applied": [{"code": pretty(c["code"]), "title": (c["title"] if zh else c.get("title_en") or c["title"]),
                             "reason": reason_text(c["reason_code"])}
                            for c in body.get("coupons_not_applied", [])]}


def _rows_for_redisplay(form) -> list[dict]:
    return [{"sku": s, "category": c, "qty": q, "price": p} for s, c, q, p in
            zip(form.getlist("sku"), form.getlist("category"), form.getlist("qty"), form.getlist("price"))]


def _transaction_for(transaction_id: int) -> Transaction:
    txn = db.get_or_404(Transaction, transaction_id)
    if current_user.works_at_a_store and txn.store_id != current_user.store_id:
        abort(403)
    return txn


def _refundable(txn: Transaction) -> bool:
    return txn.kind == "purchase" and any(it.refunded_qty < it.qty for it in txn.items)


@bp.route("/receipt/<int:transaction_id>")
@role_required("cashier", "manager", "admin", "marketer")
def receipt(transaction_id: int):
    txn = _transaction_for(transaction_id)
    store = db.session.get(Store, txn.store_id)
    txn_staff = db.session.get(Staff, txn.staff_id) if txn.staff_id else None
    member = db.session.get(Member, txn.member_id) if txn.member_id else None
    refunds = list(db.session.scalars(select(Transaction).where(Transaction.original_id == txn.id)
                                      .order_by(Transaction.id))) if txn.kind == "purchase" else []
    claim_url = (txn.receipt or {}).get("claim_qr_url") if txn.member_id is None else None
    return render_template("cashier/receipt.html", txn=txn, r=txn.receipt, store=store, txn_staff=txn_staff,
                           member=member, refunds=refunds, claim_qr=images.qr_svg(claim_url) if claim_url else None,
                           claim_hours=current_settings().claim_hours,
                           can_refund=current_user.role in REFUNDERS and _refundable(txn),
                           refund_needs_manager=current_user.role == "cashier" and _refundable(txn))


@bp.route("/refund/<int:transaction_id>", methods=["GET", "POST"])
@role_required(*REFUNDERS)
def refund(transaction_id: int):
    """Refund a purchase, whole or by line, with the same rules as the API; then print the
    refund receipt."""
    original = _transaction_for(transaction_id)
    if original.kind != "purchase":
        abort(404)
    settings = current_settings()
    lines = list(db.session.scalars(select(TransactionItem).where(TransactionItem.transaction_id == original.id)
                                    .order_by(TransactionItem.line_no)))
    errors: list[str] = []
    wanted: dict[int, str] = {}
    if request.method == "POST":
        items = None                                  # everything left
        if request.form.get("whole") != "1":
            items = []
            for line in lines:
                raw = (request.form.get(f"qty_{line.line_no}") or "").strip()
                wanted[line.line_no] = raw
                if raw in ("", "0"):
                    continue
                try:
                    qty = int(raw)
                    if qty <= 0:
                        raise ValueError
                except ValueError:
                    errors.append(_("Line %(n)d: the quantity must be a whole number above 0.", n=line.line_no))
                    continue
                items.append({"line_no": line.line_no, "qty": qty})
            if not items and not errors:
                errors.append(_("Choose at least one item to refund."))
        if not errors:
            payload = {"items": items}

            def write():
                made = checkout.refund_purchase(db.session, transaction_id=original.id, staff=current_user,
                                                clock=Clock.now(settings.tz), settings=settings, items=items)
                return 201, made.receipt

            try:
                _status, body, _replayed = run_once(db.session, f"refund:{original.id}:till:{current_user.id}",
                                                    request.form.get("idempotency_key", "")[:128], payload, write)
                db.session.commit()
                return redirect(url_for("cashier.receipt", transaction_id=body["id"]))
            except (DomainError, IdempotencyConflict) as exc:
                db.session.rollback()
                errors.append(problem_text(exc) if isinstance(exc, DomainError)
                              else _("This refund was already made with other items."))
        for e in errors:
            flash(e, "danger")
    member = db.session.get(Member, original.member_id) if original.member_id else None
    net = {it.line_no: it.amount_fen - it.discount_fen for it in lines}
    return render_template("cashier/refund.html", txn=original, lines=lines, net=net, member=member,
                           store=db.session.get(Store, original.store_id), wanted=wanted,
                           idempotency_key=str(uuid.uuid4()), fully=not _refundable(original)), \
        (422 if errors else 200)


@bp.route("/history")
@role_required("cashier", "manager", "admin")
def history():
    page = page_arg()
    stmt = select(Transaction).order_by(Transaction.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
    if current_user.works_at_a_store:
        stmt = stmt.where(Transaction.store_id == current_user.store_id)
    txns = list(db.session.scalars(stmt))
    txns, has_next = txns[:PAGE_SIZE], len(txns) > PAGE_SIZE
    ids = [t.id for t in txns if t.kind == "purchase"]
    open_lines = set(db.session.scalars(select(TransactionItem.transaction_id).where(
        TransactionItem.transaction_id.in_(ids), TransactionItem.refunded_qty < TransactionItem.qty)
        .group_by(TransactionItem.transaction_id).having(func.count() > 0))) if ids else set()
    return render_template("cashier/history.html", txns=txns, refundable=open_lines, page=page, has_next=has_next)
