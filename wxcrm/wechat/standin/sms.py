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
from dataclasses import dataclass

from flask import Blueprint, jsonify, request

from wxcrm.wechat.standin.rules import refuse
from wxcrm.wechat.standin.runtime import rt

bp = Blueprint("standin_sms", __name__)

MOBILE = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$")
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
CODE = re.compile(r"^[0-9A-Za-z]{4,8}$")
LINK = re.compile(r"https?://|www\.", re.IGNORECASE)
PARAM_LIMIT = 35
# a verification code to one phone: per minute, hour and day
CODE_LIMITS = (("分钟", 60, 1), ("小时", 3600, 5), ("天", 86400, 10))
MARKETING_SUFFIX = "拒收请回复R"


@dataclass
class SmsTemplate:
    template_id: str
    content: str
    kind: str = "notice"      # code | notice | marketing

    @property
    def params(self) -> list[str]:
        return PLACEHOLDER.findall(self.content)

    def render(self, params: dict) -> str:
        return PLACEHOLDER.sub(lambda m: str(params[m.group(1)]), self.content)

    def as_dict(self) -> dict:
        return {"template_id": self.template_id, "content": self.content, "kind": self.kind}


DEFAULT_SMS_TEMPLATES = (
    SmsTemplate("SMS_VERIFY_CODE", "您的验证码为${code}，5分钟内有效，请勿泄露于他人。", "code"),
    SmsTemplate("SMS_POINTS_CHANGED", "您在${store}消费，积分变动${change}，当前积分${balance}。"),
    SmsTemplate("SMS_TOPUP_DONE", "您已成功充值${amount}元，当前余额${balance}元。"),
    SmsTemplate("SMS_COUPON_RECEIVED", "您获得一张${coupon}，有效期至${date}。"),
    SmsTemplate("SMS_COUPON_EXPIRING", "您的${coupon}将于${date}到期，请尽快使用。"),
    SmsTemplate("SMS_MEMBERSHIP_EXPIRING", "您的会员卡${card}将于${date}到期，消费满额可免费续期。"),
    SmsTemplate("SMS_MARKETING", "${text}，拒收请回复R", "marketing"),
)


def default_sms_templates() -> dict[str, SmsTemplate]:
    return {t.template_id: SmsTemplate(t.template_id, t.content, t.kind) for t in DEFAULT_SMS_TEMPLATES}


def sms_template_from(data: dict) -> SmsTemplate:
    template = SmsTemplate(str(data.get("template_id") or ""), str(data.get("content") or ""),
                           str(data.get("kind") or "notice"))
    if not template.template_id or not template.content or template.kind not in ("code", "notice", "marketing"):
        raise ValueError("an SMS template needs template_id, content and kind code|notice|marketing")
    if template.kind == "marketing" and not template.content.endswith(MARKETING_SUFFIX):
        raise ValueError(f"a marketing template ends with {MARKETING_SUFFIX}")
    return template


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
