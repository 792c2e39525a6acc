"""WeChat, in two halves and a stand-in.

- ``faces``: the front doors WeChat and customers' phones knock on (the callback and its
  event handlers, OAuth, the JS-SDK endpoint) and the `flask wxcrm` WeChat commands; they
  sit with ``web`` and ``api`` and nothing imports them.
- ``adapter``: how wxcrm talks to WeChat (client factory and shared token store, Pay, the
  menu, JS-SDK signing, hostile-XML guard); ``messages`` and the flows call it.
- ``standin``: a local fake WeChat for the demo and the tests.
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from wxcrm.extensions import csrf
    from wxcrm.wechat.faces import callback, jssdk, oauth

    csrf.exempt(callback.bp)  # WeChat signs its requests; there is no form or cookie
    app.register_blueprint(callback.bp, url_prefix="/wechat")
    app.register_blueprint(oauth.bp, url_prefix="/wechat/oauth")
    app.register_blueprint(jssdk.bp, url_prefix="/wechat")
