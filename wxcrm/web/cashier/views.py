"""The till page: ring up a purchase for a member by card number, print the receipt."""
from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from wxcrm.checkout import service as checkout
from wxcrm.config import current_settings
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.idempotency import IdempotencyConflict, run_once
from wxcrm.ledger import service as ledger
from wxcrm.members import service as members
from wxcrm.members.models import Staff, Store
from wxcrm.money import yuan_str_to_fen
from wxcrm.sales.models import Transaction
from wxcrm.timeutil import Clock
from wxcrm.web.auth import role_required
from wxcrm.web.paging import page_arg

bp = Blueprint("cashier", __name__)
PAGE_SIZE = 50


def _stores_for(user) -> list[Store]:
    if user.works_at_a_store:
        return [user.store] if user.store else []
    return list(db.session.scalars(select(Store).where(Store.active.is_(True)).order_by(Store.code)))


def _basket_from_form(form) -> tuple[list[dict], list[str]]:
    """Rows of sku / category / qty / price (yuan) -> items in fen; errors name the row."""
    items, errors = [], []
    for i, (sku, category, qty, price) in enumerate(zip(form.getlist("sku"), form.getlist("category"),
                                                       form.getlist("qty"), form.getlist("price"))):
        if not sku.strip() and not price.strip():
            continue
        try:
            qty_n = int(qty)
            price_fen = yuan_str_to_fen(price)
            if qty_n <= 0 or price_fen < 0:
                raise ValueError
        except ValueError:
            errors.append(_("Row %(n)d: quantity and price must be positive numbers.", n=i + 1))
            continue
        items.append({"sku": sku.strip() or "ITEM", "category": category.strip(), "qty": qty_n,
                      "unit_price_fen": price_fen})
    return items, errors


@bp.route("/", methods=["GET", "POST"])
@role_required("cashier", "manager", "admin")
def till():
    stores = _stores_for(current_user)
    member = None
    summary = None
    card_no = (request.values.get("card_no") or "").strip()
    if card_no:
        member = members.find_member(db.session, card_no=card_no) or members.find_member(db.session, phone=card_no)
        if member is None:
            flash(_("No member with card or phone %(c)s.", c=card_no), "warning")
        else:
            summary = ledger.points_summary(db.session, member.id, Clock.now(current_settings().tz).today)

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
        if not errors:
            payload = {"store_code": request.form.get("store_code", ""),
                       "member": {"card_no": member.card_no} if member else None,
                       "items": items, "points_to_use": points,
                       "payment_method": request.form.get("payment_method") or "cash"}

            settings = current_settings()

            def write():
                txn = checkout.ring_up_purchase(db.session, staff=current_user, clock=Clock.now(settings.tz),
                                                settings=settings, store_code=payload["store_code"], items=items,
                                                member_ref=payload["member"], points_to_use=points,
                                                payment_method=payload["payment_method"])
                return 201, txn.receipt

            try:
                _status, body, _replayed = run_once(db.session, f"till:{current_user.id}", request.form.get("idempotency_key", "")[:128],
                                                    payload, write)
                db.session.commit()
                return redirect(url_for("cashier.receipt", transaction_id=body["id"]))
            except (DomainError, IdempotencyConflict) as exc:
                db.session.rollback()
                errors.append(_(exc.detail) if isinstance(exc, DomainError)
                              else _("This sale was already rung up with a different basket."))
        for e in errors:
            flash(e, "danger")

    return render_template("cashier/till.html", stores=stores, member=member, summary=summary, card_no=card_no,
                           idempotency_key=str(uuid.uuid4()),
                           rows=_rows_for_redisplay(request.form) if request.method == "POST" else None)


def _rows_for_redisplay(form) -> list[dict]:
    return [{"sku": s, "category": c, "qty": q, "price": p} for s, c, q, p in
            zip(form.getlist("sku"), form.getlist("category"), form.getlist("qty"), form.getlist("price"))]


@bp.route("/receipt/<int:transaction_id>")
@role_required("cashier", "manager", "admin", "marketer")
def receipt(transaction_id: int):
    txn = db.get_or_404(Transaction, transaction_id)
    if current_user.works_at_a_store and txn.store_id != current_user.store_id:
        abort(403)
    store = db.session.get(Store, txn.store_id)
    txn_staff = db.session.get(Staff, txn.staff_id) if txn.staff_id else None
    return render_template("cashier/receipt.html", txn=txn, r=txn.receipt, store=store, txn_staff=txn_staff)


@bp.route("/history")
@role_required("cashier", "manager", "admin")
def history():
    page = page_arg()
    stmt = select(Transaction).order_by(Transaction.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
    if current_user.works_at_a_store:
        stmt = stmt.where(Transaction.store_id == current_user.store_id)
    txns = list(db.session.scalars(stmt))
    return render_template("cashier/history.html", txns=txns[:PAGE_SIZE], page=page, has_next=len(txns) > PAGE_SIZE)
