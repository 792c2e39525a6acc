"""WeChat's front doors: the callback, OAuth for the customer pages, the JS-SDK endpoint."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from wxcrm.extensions import csrf
    from wxcrm.wechat.faces import callback, jssdk, oauth, pay

    csrf.exempt(callback.bp)  # WeChat signs its requests; there is no form or cookie
    csrf.exempt(pay.bp)
    app.register_blueprint(callback.bp, url_prefix="/wechat")
    app.register_blueprint(pay.bp, url_prefix="/wechat")
    app.register_blueprint(oauth.bp, url_prefix="/wechat/oauth")
    app.register_blueprint(jssdk.bp, url_prefix="/wechat")
