"""WeChat: the callback, event handlers, client factory and token store, the outbox,
OAuth for the customer pages, menu, JS-SDK, Pay, and the local stand-in (standin/)."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from wxcrm.extensions import csrf
    from wxcrm.wechat import callback, jssdk, oauth

    csrf.exempt(callback.bp)  # WeChat signs its requests; there is no form or cookie
    app.register_blueprint(callback.bp, url_prefix="/wechat")
    app.register_blueprint(oauth.bp, url_prefix="/wechat/oauth")
    app.register_blueprint(jssdk.bp, url_prefix="/wechat")
