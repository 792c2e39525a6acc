"""Server-rendered pages: console/, cashier/, h5/, and staff login."""
from __future__ import annotations

from datetime import datetime

from flask import Flask, redirect, url_for
from flask_babel import get_locale
from flask_login import current_user

from wxcrm.config import current_settings
from wxcrm.extensions import db, login
from wxcrm.money import fen_to_yuan_str
from wxcrm.timeutil import to_local


def _local_time(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time (datetime, or RFC 3339 text with its offset) in the merchant's time zone."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        return value.astimezone(current_settings().tz).strftime(fmt)
    return to_local(value, current_settings().tz).strftime(fmt)


def init_web(app: Flask) -> None:
    from wxcrm.members.service import staff_for_session
    from wxcrm.web import auth
    from wxcrm.web.cashier import gifts as cashier_gifts  # noqa: F401  (adds the gift hand-over to the till)
    from wxcrm.web.cashier import views as cashier
    from wxcrm.web.console import analytics as analytics_console
    from wxcrm.web.console import cards as cards_console
    from wxcrm.web.console import coupon_cards as coupon_cards_console
    from wxcrm.web.console import coupons as coupons_console
    from wxcrm.web.console import marketing as marketing_console
    from wxcrm.web.console import outbox as outbox_console
    from wxcrm.web.console import rules as rules_console
    from wxcrm.web.console import stored_value as stored_value_console
    from wxcrm.web.console import views as console
    from wxcrm.web.h5 import coupon_cards as h5_coupon_cards  # noqa: F401  (the wallet's WeChat card button)
    from wxcrm.web.h5 import coupons as h5_coupons  # noqa: F401  (adds the wallet to the h5 pages)
    from wxcrm.web.h5 import views as h5

    login.login_view = "auth.login"
    login.login_message_category = "warning"

    @login.user_loader
    def load_staff(user_id: str):
        return staff_for_session(db.session, user_id)

    app.register_blueprint(auth.bp)
    app.register_blueprint(console.bp, url_prefix="/console")
    app.register_blueprint(cashier.bp, url_prefix="/cashier")
    app.register_blueprint(h5.bp, url_prefix="/h5")
    app.register_blueprint(outbox_console.bp, url_prefix="/console/outbox")
    app.register_blueprint(cards_console.bp, url_prefix="/console/cards")
    app.register_blueprint(rules_console.bp, url_prefix="/console/rules")
    app.register_blueprint(stored_value_console.bp, url_prefix="/console/stored-value")
    app.register_blueprint(analytics_console.bp, url_prefix="/console/analytics")
    app.register_blueprint(coupons_console.bp, url_prefix="/console/coupons")
    app.register_blueprint(coupon_cards_console.bp, url_prefix="/console/coupons")
    app.register_blueprint(marketing_console.bp, url_prefix="/console")

    app.jinja_env.filters["yuan"] = fen_to_yuan_str
    app.jinja_env.filters["yuan_grouped"] = lambda fen: fen_to_yuan_str(fen, grouped=True)
    app.jinja_env.filters["local_time"] = _local_time
    from wxcrm.web import labels
    labels.register(app)

    @app.context_processor
    def page_globals():
        return {"brand": app.config["WXCRM_BRAND_NAME"], "locale": str(get_locale())}

    @app.route("/")
    def index():
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        if current_user.works_at_a_store:
            return redirect(url_for("cashier.till"))
        return redirect(url_for("console.home"))

    @app.route("/healthz")
    def healthz():
        db.session.execute(db.text("SELECT 1"))
        return {"status": "ok"}
