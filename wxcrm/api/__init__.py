"""The JSON API (v1) and its OpenAPI document."""
from __future__ import annotations

from flask import Flask

from wxcrm.extensions import api, csrf


def init_api(app: Flask) -> None:
    from wxcrm.api import campaigns, coupon_cards, coupons, errors, members, rules, stores, topups, transactions
    from wxcrm.api.auth import BEARER_SCHEME
    from wxcrm.api.schemas import Problem

    api.ERROR_SCHEMA = Problem  # documented error bodies are what errors.py sends
    api.init_app(app, spec_kwargs={"servers": [{"url": "/"}]})
    api.spec.components.security_scheme("bearerAuth", BEARER_SCHEME)
    for module in (members, stores, transactions, topups, rules, coupons, campaigns, coupon_cards):
        csrf.exempt(module.blp)  # bearer-token API: no cookies, no CSRF
        api.register_blueprint(module.blp, url_prefix="/api/v1")
    errors.init_app(app)
    from wxcrm.api.openapi import openapi_document
    app.add_url_rule("/api/v1/openapi.json", "openapi_json", lambda: openapi_document(api.spec.to_dict()))
