"""The one place wxcrm talks to WeChat's servers.

``WXCRM_WECHAT_API_BASE`` empty means the real WeChat. Set, every wechatpy request to a
WeChat host (api.weixin.qq.com, mp.weixin.qq.com, open.weixin.qq.com,
api.mch.weixin.qq.com) is routed to that base instead, including the access-token URL
that wechatpy keeps inside its client; ``WXCRM_WECHAT_PAY_API_BASE`` sends WeChat Pay's
host elsewhere (the stand-in's HTTPS port, where refunds present the merchant's client
certificate). The stand-in and the tests rely on this; nothing patches wechatpy.

``WXCRM_WECHAT_CA_BUNDLE`` verifies WeChat's hosts against a given CA file. It is passed
with every request, because requests lets ``REQUESTS_CA_BUNDLE`` (set on many machines)
override a session's own ``verify``.
"""
from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import requests
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from wechatpy import WeChatClient, WeChatOAuth
from wechatpy.exceptions import WeChatClientException
from wechatpy.pay import WeChatPay
from wechatpy.session import SessionStorage

from wxcrm.config import Settings
from wxcrm.timeutil import utcnow
from wxcrm.wechat.adapter.models import StoredSecret

log = logging.getLogger(__name__)

# real host prefix -> path under WXCRM_WECHAT_API_BASE
WECHAT_HOSTS = (
    ("https://api.weixin.qq.com/", ""),
    ("https://mp.weixin.qq.com/", "mp/"),
    ("https://open.weixin.qq.com/", "open/"),
    ("https://api.mch.weixin.qq.com/", "mch/"),
)
# invalid credential, invalid token, expired token: fetch a new token and retry once
TOKEN_ERRORS = (40001, 40014, 42001)
REFRESH_LEASE_SECONDS = 10
REFRESH_WAIT_SECONDS = 5.0


PAY_HOST = "https://api.mch.weixin.qq.com/"


def route_url(url: str, api_base: str, pay_base: str = "") -> str:
    """Where a WeChat URL really goes: unchanged, or under the configured API base (Pay's
    host under ``pay_base`` when given)."""
    if pay_base and url.startswith(PAY_HOST):
        return pay_base.rstrip("/") + "/mch/" + url[len(PAY_HOST):]
    if not api_base:
        return url
    for prefix, path in WECHAT_HOSTS:
        if url.startswith(prefix):
            return api_base.rstrip("/") + "/" + path + url[len(prefix):]
    return url


class WeChatHttp(requests.Session):
    """A requests session that sends WeChat URLs to the configured API base, verifying
    TLS against ``ca_bundle`` when one is given."""

    def __init__(self, api_base: str, *, pay_base: str = "", ca_bundle: str = ""):
        super().__init__()
        self.api_base = api_base
        self.pay_base = pay_base
        self.ca_bundle = ca_bundle

    def request(self, method, url, *args, **kwargs):
        if self.ca_bundle:
            kwargs.setdefault("verify", self.ca_bundle)
        return super().request(method, route_url(url, self.api_base, self.pay_base), *args, **kwargs)


# ---------------------------------------------------------------- the shared token store

class DatabaseStorage(SessionStorage):
    """wechatpy session storage in the ``wechat_session_store`` table.

    Each call is its own short transaction on the engine, never the caller's session:
    a token fetched by one worker is visible to every worker at once, and a rollback
    of the caller's work does not lose it. Values are JSON (wechatpy stores ints too).
    """

    # Tokens are treated as expired a little early, so no request uses one in its last minutes.
    EARLY_SECONDS = 300

    def __init__(self, engine: Engine):
        self.engine = engine

    def get(self, key, default=None):
        with self.engine.connect() as conn:
            row = conn.execute(select(StoredSecret.value, StoredSecret.expires_at)
                               .where(StoredSecret.key == key)).first()
        if row is None or not row.value or (row.expires_at is not None and row.expires_at <= utcnow()):
            return default
        return json.loads(row.value)

    def set(self, key, value, ttl=None):
        if value is None:
            return
        expires_at = None
        if ttl:
            ttl = int(ttl)
            expires_at = utcnow() + timedelta(seconds=ttl - min(self.EARLY_SECONDS, ttl // 10))
        values = {"value": json.dumps(value), "expires_at": expires_at, "updated_at": utcnow()}
        with self.engine.begin() as conn:
            if conn.execute(update(StoredSecret).where(StoredSecret.key == key).values(**values)).rowcount:
                return
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(StoredSecret).values(key=key, **values))
        except IntegrityError:  # another worker inserted it first: ours is as good
            with self.engine.begin() as conn:
                conn.execute(update(StoredSecret).where(StoredSecret.key == key).values(**values))

    def delete(self, key):
        with self.engine.begin() as conn:
            conn.execute(update(StoredSecret).where(StoredSecret.key == key).values(value="", expires_at=None))

    # -- the refresh lease: a conditional UPDATE, atomic on MySQL and SQLite alike

    def try_lock(self, key: str, seconds: int = REFRESH_LEASE_SECONDS) -> bool:
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(StoredSecret).values(key=key, value="", expires_at=None, updated_at=now))
        except IntegrityError:
            pass
        with self.engine.begin() as conn:
            result = conn.execute(
                update(StoredSecret)
                .where(StoredSecret.key == key,
                       (StoredSecret.refreshing_until.is_(None)) | (StoredSecret.refreshing_until < now))
                .values(refreshing_until=now + timedelta(seconds=seconds)))
            return result.rowcount == 1

    def unlock(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(StoredSecret).where(StoredSecret.key == key).values(refreshing_until=None))


# ---------------------------------------------------------------- the API client

class WxcrmWeChatClient(WeChatClient):
    """wechatpy's client with the shared token store and a bounded token refresh.

    wechatpy's own retry on 40001/42001 recurses without limit and lets every worker
    fetch a token at once; here one worker refreshes under a lease, the others wait
    for its token, and a request is retried once.
    """

    def __init__(self, appid: str, secret: str, storage: DatabaseStorage, api_base: str = "",
                 timeout: float | None = None, ca_bundle: str = ""):
        super().__init__(appid, secret, session=storage, timeout=timeout, auto_retry=False)
        self._http = WeChatHttp(api_base, ca_bundle=ca_bundle)
        self._token_used: str | None = None

    @property
    def access_token(self):
        token = self.session.get(self.access_token_key)
        if not token:
            token = self.refresh_access_token(stale=None)
        self._token_used = token
        return token

    def refresh_access_token(self, stale: str | None) -> str:
        """A token other than ``stale``: another worker's fresh one, or one we fetch."""
        key = self.access_token_key
        deadline = time.monotonic() + REFRESH_WAIT_SECONDS
        while True:
            current = self.session.get(key)
            if current and current != stale:
                return current
            if self.session.try_lock(key):
                try:
                    current = self.session.get(key)
                    if current and current != stale:
                        return current
                    self.fetch_access_token()
                    return self.session.get(key)
                finally:
                    self.session.unlock(key)
            if time.monotonic() > deadline:
                # The refresher is stuck or gone; WeChat keeps an old token valid for a
                # while after a refresh, so one extra fetch here is harmless.
                log.warning("wechat token refresh lease held too long; fetching anyway")
                self.fetch_access_token()
                return self.session.get(key)
            time.sleep(0.05)

    def _request(self, method, url_or_endpoint, **kwargs):
        params = kwargs.get("params")
        data = kwargs.get("data")
        try:
            return super()._request(method, url_or_endpoint, **kwargs)
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            log.info("wechat token rejected (%s); refreshing", exc.errcode)
        token = self.refresh_access_token(stale=self._token_used)
        if isinstance(params, dict):
            params = dict(params, access_token=token)
        kwargs.update(params=params if params is not None else {"access_token": token}, data=data)
        return super()._request(method, url_or_endpoint, **kwargs)


def qrcode_image(client: WxcrmWeChatClient, ticket: str) -> bytes:
    """The QR code PNG for a ticket. wechatpy's ``qrcode.show`` calls ``requests.get``
    itself, past the client's session, so it is fetched here through ours."""
    res = client._http.get(client.qrcode.get_url(ticket), timeout=client.timeout)
    res.raise_for_status()
    return res.content


def wechat_client(settings: Settings, engine: Engine) -> WxcrmWeChatClient:
    """The API client every worker shares a token through (``engine``: the app's database)."""
    return WxcrmWeChatClient(settings.wechat_app_id, settings.wechat_app_secret, DatabaseStorage(engine),
                             api_base=settings.wechat_api_base, timeout=settings.wechat_http_timeout,
                             ca_bundle=settings.wechat_ca_bundle)


def wechat_oauth(settings: Settings, redirect_uri: str, scope: str, state: str) -> WeChatOAuth:
    oauth = WeChatOAuth(settings.wechat_app_id, settings.wechat_app_secret, redirect_uri, scope=scope, state=state)
    oauth._http = WeChatHttp(settings.wechat_api_base, ca_bundle=settings.wechat_ca_bundle)
    return oauth


def oauth_authorize_url(oauth: WeChatOAuth, settings: Settings) -> str:
    """The page the customer's browser is sent to (the stand-in's when configured)."""
    return route_url(oauth.authorize_url, settings.wechat_api_base)


def wechat_pay(settings: Settings) -> WeChatPay:
    """wechatpy's Pay v2 client with the merchant's API client certificate (refunds need it:
    wechatpy presents it in the TLS handshake) and WeChat's hosts verified as configured."""
    pay = WeChatPay(settings.wechat_app_id, settings.wechat_pay_api_key, settings.wechat_mch_id,
                    mch_cert=settings.wechat_pay_cert_path or None, mch_key=settings.wechat_pay_key_path or None,
                    timeout=settings.wechat_http_timeout)
    pay._http = WeChatHttp(settings.wechat_api_base, pay_base=settings.wechat_pay_api_base,
                           ca_bundle=settings.wechat_ca_bundle)
    return pay
