"""The project's own SMS gateway, shaped like China's (Aliyun, Tencent Cloud): a message
is an approved signature, an approved template and its parameters, to a mainland mobile
number; verification codes are flow-controlled per phone. Accepted messages are kept so
tests can read one-time codes (``/standin/sms``).

    POST /sms/send {"phone": "13800138000", "sign": "wxcrm", "template_id": "SMS_VERIFY_CODE",
                    "params": {"code": "123456"}}
    -> 200 {"code": "OK", "id": "sms-1", ...} or 400 {"code": "isv.…", "message": "…"}
"""
from __future__ import annotations

import re

from flask import Blueprint, jsonify, request

from wxcrm.wechat.standin.rules import refuse
from wxcrm.wechat.standin.runtime import rt
from wxcrm.wechat.standin.smstemplates import sms_template_from

bp = Blueprint("standin_sms", __name__)

MOBILE = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$")
CODE = re.compile(r"^[0-9A-Za-z]{4,8}$")
LINK = re.compile(r"https?://|www\.", re.IGNORECASE)
PARAM_LIMIT = 35
# a verification code to one phone: per minute, hour and day
CODE_LIMITS = (("分钟", 60, 1), ("小时", 3600, 5), ("天", 86400, 10))


@bp.post("/sms/send")
def send():
    data = request.get_json(force=True, silent=True)
    data = data if isinstance(data, dict) else {}
    run = rt()
    phone = str(data.get("phone") or "")
    if not MOBILE.match(phone):
        raise refuse("sms.phone")
    if data.get("sign") not in run.cfg.sms_signs:
        raise refuse("sms.sign")
    template = run.state.sms_templates.get(data.get("template_id"))
    if template is None:
        raise refuse("sms.template")
    params = data.get("params") if isinstance(data.get("params"), dict) else {}
    for name in template.params:
        if name not in params or str(params[name]) == "":
            raise refuse("sms.missing", name=name)
        value = str(params[name])
        if len(value) > PARAM_LIMIT or LINK.search(value) or (template.kind == "code" and name == "code"
                                                              and not CODE.match(value)):
            raise refuse("sms.params", name=name)
    phone = phone[-11:]
    now = run.now()
    with run.state.lock:
        if template.kind == "code":
            sent = [m["at"] for m in run.state.sms if m["phone"] == phone and m["kind"] == "code"]
            for window, seconds, limit in CODE_LIMITS:
                if sum(1 for at in sent if now - at < seconds) >= limit:
                    raise refuse("sms.rate", window=window)
        message = {"id": f"sms-{run.state.next_id()}", "phone": phone, "sign": data["sign"],
                   "template_id": template.template_id, "kind": template.kind,
                   "params": {k: str(v) for k, v in params.items()},
                   "text": f"【{data['sign']}】" + template.render(params), "at": now}
        run.state.sms.append(message)
    return jsonify({"code": "OK", "message": "OK", "id": message["id"], "biz_id": message["id"]})


@bp.get("/standin/sms")
def messages():
    phone = request.args.get("phone", "")
    return jsonify([m for m in rt().state.sms if not phone or m["phone"] == phone[-11:]])


@bp.route("/standin/sms-templates", methods=["GET", "POST"])
def templates():
    run = rt()
    if request.method == "POST":
        try:
            template = sms_template_from(request.get_json(force=True, silent=True) or {})
        except ValueError as exc:
            return jsonify({"error": str(exc)}), 400
        with run.state.lock:
            run.state.sms_templates[template.template_id] = template
    return jsonify([t.as_dict() for t in run.state.sms_templates.values()])
