"""The SMS gateway's approved templates (the merchant's, at the gateway): a template is
content with ${name} placeholders and a kind (code, notice, marketing)."""
from __future__ import annotations

import re
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
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
    SmsTemplate("SMS_STORED_VALUE_LOW", "您的储值余额仅剩${balance}元，可到店或在会员卡页面充值。"),
    SmsTemplate("SMS_COUPON_RECEIVED", "您获得一张${coupon}，有效期至${date}。"),
    SmsTemplate("SMS_COUPON_EXPIRING", "您的${coupon}将于${date}到期，请尽快使用。"),
    SmsTemplate("SMS_MEMBERSHIP_EXPIRING", "您的会员卡${card}将于${date}到期，消费满额可免费续期。"),
    SmsTemplate("SMS_POINTS_EXPIRING", "您有${points}积分将于${date}到期，请尽快使用。"),
    SmsTemplate("SMS_SERVICE_NOTICE", "服务通知：${title}（${date}）"),
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
