"""The stand-in's Flask app: one process is one strict fake WeChat, state in memory.

Every call is recorded; planned failures (``/standin/fail-next``) come first, then the
access token is checked, then the handler applies its area's rules (``rules.py``).
A refusal answers as WeChat does: JSON errcode/errmsg for the API, a FAIL XML for Pay,
an error page for the OAuth page, 400 with the gateway's code for SMS.
"""
from __future__ import annotations

import json
import re

import xmltodict
from flask import Flask, Response, g, jsonify, request

from wxcrm.wechat.standin import api, cards, control, messages, oauth, pay, sms
from wxcrm.wechat.standin.config import StandinConfig
from wxcrm.wechat.standin.rules import Refusal
from wxcrm.wechat.standin.runtime import Runtime, rt

SECRET_PARAMS = {"access_token", "secret", "refresh_token"}
CALL_LOG = 2000
UNGUARDED = ("/cgi-bin/token",)
RESULT_CODES = re.compile(r"<(return_code|result_code)>(?:<!\[CDATA\[)?(\w+)")

__all__ = ["StandinConfig", "create_standin_app"]


def create_standin_app(config: StandinConfig) -> Flask:
    app = Flask("wxcrm_standin")
    app.config["STANDIN"] = config
    app.json.ensure_ascii = False
    run = Runtime(app)
    app.extensions["standin"] = run
    app.extensions["standin_state"] = run.state
    for module in (api, messages, oauth, pay, cards, sms, control):
        app.register_blueprint(module.bp)
    app.before_request(_record_and_gate)
    app.after_request(_note_answer)
    app.register_error_handler(Refusal, _refused)
    return app


def _body_of() -> object:
    raw = request.get_data(as_text=True)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        try:
            return xmltodict.parse(raw).get("xml")
        except Exception:  # noqa: BLE001 - record whatever came
            return raw[:2000]


def _planned_failure(run: Runtime):
    with run.state.lock:
        for failure in run.state.failures:
            if failure.remaining > 0 and request.path.startswith(failure.path):
                failure.remaining -= 1
                return failure
    return None


def _record_and_gate():
    if request.path.startswith("/standin"):
        return None
    run = rt()
    entry = {"id": run.state.next_id(), "at": run.now(), "method": request.method, "path": request.path,
             "query": {k: v for k, v in request.args.items() if k not in SECRET_PARAMS}, "body": _body_of()}
    with run.state.lock:
        run.state.calls.append(entry)
        del run.state.calls[:-CALL_LOG]
    g.standin_call = entry
    if request.path.startswith("/open/"):
        return None
    failure = _planned_failure(run)
    if failure is not None:
        entry.update(failed=True, planned=True)
        if failure.http_status != 200:
            return Response("stand-in failure", status=failure.http_status)
        return jsonify({"errcode": failure.errcode, "errmsg": "stand-in planned failure"})
    if request.path.startswith(("/cgi-bin/", "/card/")) and request.path not in UNGUARDED:
        api.check_access_token(request.args.get("access_token", ""))
    return None


def _note_answer(response: Response) -> Response:
    entry = getattr(g, "standin_call", None)
    if entry is None or entry.get("planned"):
        return response
    entry["status"] = response.status_code
    if response.is_json:
        data = response.get_json(silent=True)
        errcode = data.get("errcode", 0) if isinstance(data, dict) else 0
        if errcode:
            entry.update(errcode=errcode, failed=True)
    elif response.mimetype == "text/xml":
        codes = dict(RESULT_CODES.findall(response.get_data(as_text=True)))
        if any(v != "SUCCESS" for v in codes.values()):
            entry["failed"] = True
    if response.status_code >= 400:
        entry["failed"] = True
    return response


def _refused(refusal: Refusal):
    kind = refusal.rule.kind
    if kind.startswith("pay"):
        return pay.refusal_answer(refusal)
    if kind == "sms":
        return jsonify({"code": refusal.rule.code, "message": refusal.message}), 400
    if kind == "page":
        if refusal.rule.id == "qr.show":
            return Response("", status=404)
        return Response(f"<!doctype html><meta charset='utf-8'><h2>Oops! Something went wrong:(</h2>"
                        f"<p>{refusal.rule.code} {refusal.message}</p>", status=400, mimetype="text/html")
    return jsonify({"errcode": refusal.rule.code, "errmsg": refusal.message})
