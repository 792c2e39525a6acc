"""The console's part in WeChat card-wallet coupons: a template's page shows whether it is a
WeChat card coupon and WeChat's review of it (pending, approved, rejected with WeChat's
reason), and sends it to WeChat; the coupon list shows the status per template."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask_babel import gettext as _

from wxcrm.config import current_settings
from wxcrm.coupons import service as coupons
from wxcrm.coupons import wallet_card
from wxcrm.coupons.card_models import CouponCard
from wxcrm.coupons.models import CouponTemplate
from wxcrm.errors import N_, DomainError
from wxcrm.extensions import db
from wxcrm.timeutil import utcnow
from wxcrm.web.auth import role_required
from wxcrm.web.labels import problem_text
from wxcrm.wechat.adapter.client import wechat_client

bp = Blueprint("console_coupon_cards", __name__)

STATUS_TEXT = {"pending": N_("In WeChat's review"), "approved": N_("Approved by WeChat"),
               "rejected": N_("Rejected by WeChat")}
STATUS_BADGE = {"pending": "amber", "approved": "green", "rejected": "red"}


@bp.app_template_global("coupon_wechat_card")
def coupon_wechat_card(tpl: CouponTemplate) -> dict:
    """What a template's page shows: enabled, the card (or None), its status in words."""
    card = wallet_card.card_of(db.session, tpl.id)
    return {"enabled": current_settings().wechat_card_enabled, "card": card,
            "text": _(STATUS_TEXT[card.status]) if card else "", "badge": STATUS_BADGE[card.status] if card else ""}


@bp.app_template_global("coupon_wechat_cards")
def coupon_wechat_cards() -> dict[int, dict]:
    """Template id -> {"text", "badge"} for the coupon list (one query)."""
    return {tid: {"text": _(STATUS_TEXT[c.status]), "badge": STATUS_BADGE[c.status]}
            for tid, c in wallet_card.statuses(db.session).items()}


@bp.route("/<code>/wechat-card", methods=["POST"])
@role_required("admin", "marketer")
def send(code: str):
    """Make the template a WeChat card coupon (WeChat then reviews it)."""
    tpl = coupons.template_by_code(db.session, code)
    settings = current_settings()
    try:
        card: CouponCard = wallet_card.send_template(db.session, wechat_client(settings, db.engine), settings, tpl,
                                                     now=utcnow())
        db.session.commit()
        flash(_("Sent to WeChat: %(s)s.", s=_(STATUS_TEXT[card.status])), "success")
    except DomainError as exc:
        db.session.rollback()
        flash(problem_text(exc), "danger")
    return redirect(url_for("console_coupons.template_page", code=tpl.code))
