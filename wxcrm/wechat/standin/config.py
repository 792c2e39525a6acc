"""What one stand-in plays: the account, the merchant, where callbacks go, and how fast
its deferred work (pay-notify retries, job reports) runs."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse


@dataclass
class StandinConfig:
    appid: str
    secret: str
    token: str
    callback_url: str               # wxcrm's /wechat/callback
    aes_key: str = ""
    mch_id: str = ""
    pay_api_key: str = ""
    token_ttl: int = 7200
    account: str = "gh_standin"     # the account's original id, ToUserName of every push
    oauth_domain: str = ""          # the web-authorization domain; empty: the callback's host
    notify_speedup: float = 1.0     # WeChat Pay's notify retry schedule is divided by this
    job_report_delay: float = 2.0   # stand-in seconds before MASSSENDJOBFINISH and the like are pushed
    cert_dir: str = ""              # where the test CA and the merchant certificate live; empty: a temp dir
    card_balance_permission: bool = False   # the account may put stored value on member cards (43010 otherwise)
    sms_signs: tuple[str, ...] = ("wxcrm",)

    @classmethod
    def from_wxcrm(cls, cfg, callback_url: str | None = None) -> StandinConfig:
        public = cfg["WXCRM_PUBLIC_URL"].rstrip("/")
        return cls(appid=cfg["WXCRM_WECHAT_APP_ID"], secret=cfg["WXCRM_WECHAT_APP_SECRET"],
                   token=cfg["WXCRM_WECHAT_TOKEN"], aes_key=cfg["WXCRM_WECHAT_AES_KEY"],
                   mch_id=cfg["WXCRM_WECHAT_MCH_ID"], pay_api_key=cfg["WXCRM_WECHAT_PAY_API_KEY"],
                   callback_url=callback_url or public + "/wechat/callback",
                   oauth_domain=urlparse(public).hostname or "",
                   sms_signs=(cfg.get("WXCRM_BRAND_NAME") or "wxcrm",))

    @property
    def web_domain(self) -> str:
        return self.oauth_domain or urlparse(self.callback_url).hostname or ""
