"""One function for production mode's configuration check (``flask wxcrm check-config``):
what is wrong with the messaging and WeChat Pay settings, in words naming the setting."""
from __future__ import annotations

from wxcrm.config import Settings
from wxcrm.messages import sms, templates
from wxcrm.wechat.adapter.pay import pay_config_problems


def messaging_and_pay_problems(settings: Settings, *, production: bool = True) -> list[str]:
    """Every problem with WXCRM_WECHAT_TEMPLATE_IDS (each purpose's template and keyword
    types), the SMS settings, and, when pay is on, the Pay key, merchant certificate and
    key, and CA bundle. In production the stand-in's SMS gateway is a problem too."""
    problems = templates.config_problems(settings) + sms.config_problems(settings) + pay_config_problems(settings)
    if production and settings.sms_provider == "standin":
        problems.append("WXCRM_SMS_PROVIDER: standin is the local stand-in's gateway, not a real one")
    return problems
