"""What the stand-in remembers, in memory, behind one lock (it is served threaded).

Handlers take ``state.lock`` around every check-then-change, and never hold it while
talking to wxcrm. ``clear`` puts everything back as a new stand-in has it.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields

# customer-service windows: what the user did -> (messages allowed, seconds); None: no count limit
WINDOWS: dict[str, tuple[int | None, int]] = {
    "message": (5, 48 * 3600),     # the user sent a message
    "event": (3, 60),              # followed, scanned a QR code, clicked a menu
    "payment": (None, 48 * 3600),  # paid with WeChat Pay
}
MASS_PER_MONTH = 4


@dataclass
class Window:
    kind: str
    opened_at: float
    expires_at: float
    remaining: int | None


@dataclass
class User:
    openid: str
    subscribed: bool
    subscribe_time: int = 0
    subscribe_scene: str = "ADD_SCENE_OTHERS"
    qr_scene: int = 0
    qr_scene_str: str = ""
    blocks_templates: bool = False
    windows: dict[str, Window] = field(default_factory=dict)
    mass_received: dict[str, int] = field(default_factory=dict)   # Beijing month -> mass messages received

    def summary(self, now: float) -> dict:
        live = {k: {"remaining": w.remaining, "expires_in": round(w.expires_at - now, 1)}
                for k, w in self.windows.items() if w.expires_at > now}
        return {"openid": self.openid, "subscribed": self.subscribed, "subscribe_time": self.subscribe_time,
                "subscribe_scene": self.subscribe_scene, "blocks_templates": self.blocks_templates,
                "windows": live, "mass_received": dict(self.mass_received)}


@dataclass
class Token:
    value: str
    issued_at: float
    expires_at: float
    replaced_at: float | None = None


@dataclass
class Failure:
    remaining: int
    errcode: int
    http_status: int
    path: str


@dataclass
class State:
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    seq: int = 0
    calls: list = field(default_factory=list)
    pushes: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    quotas: dict = field(default_factory=dict)            # (name, Beijing day or month) -> count
    tokens: dict = field(default_factory=dict)            # access token -> Token
    token_fetches: int = 0
    users: dict = field(default_factory=dict)             # openid -> User
    menu: dict | None = None
    qrcodes: dict = field(default_factory=dict)           # ticket -> {action_name, scene, expires_at}
    permanent_scenes: dict = field(default_factory=dict)  # scene -> ticket
    js_tickets: dict = field(default_factory=dict)        # ticket -> {type, expires_at}
    templates: dict = field(default_factory=dict)         # template id -> Template
    template_sends: dict = field(default_factory=dict)    # (openid, client_msg_id) -> (msgid, at)
    clientmsgids: dict = field(default_factory=dict)      # mass clientmsgid -> at
    mass_jobs: dict = field(default_factory=dict)         # msg_id -> report
    oauth_openid: str = ""                                # who "is" the browser on the authorize page
    oauth_codes: dict = field(default_factory=dict)       # code -> {openid, scope, issued_at, used}
    oauth_tokens: dict = field(default_factory=dict)      # web access token -> {openid, scope, expires_at}
    refresh_tokens: dict = field(default_factory=dict)    # refresh token -> {openid, scope, expires_at}
    orders: dict = field(default_factory=dict)            # out_trade_no -> order
    refunds: dict = field(default_factory=dict)           # out_refund_no -> refund
    notifications: list = field(default_factory=list)     # pay-notify deliveries
    cards: dict = field(default_factory=dict)             # card_id -> card
    codes: dict = field(default_factory=dict)             # code -> user card
    activate_tickets: dict = field(default_factory=dict)  # activate_ticket -> submitted form
    card_review_manual: bool = False                      # new cards wait for /standin/cards/review
    card_whitelist: set = field(default_factory=set)      # openids that may receive cards still in review
    card_nonces: set = field(default_factory=set)         # addCard nonce_str values already used
    sms: list = field(default_factory=list)
    sms_templates: dict = field(default_factory=dict)

    def clear(self) -> None:
        with self.lock:
            fresh = State()
            for f in fields(self):
                if f.name != "lock":
                    setattr(self, f.name, getattr(fresh, f.name))

    def next_id(self) -> int:
        with self.lock:
            self.seq += 1
            return self.seq

    def take_quota(self, name: str, period: str, limit: int) -> bool:
        """Count one use of a quota; False (and nothing counted) when it is used up."""
        with self.lock:
            used = self.quotas.get((name, period), 0)
            if used >= limit:
                return False
            self.quotas[(name, period)] = used + 1
            return True

    # ---------------------------------------------------------------- followers

    def user(self, openid: str) -> User | None:
        return self.users.get(openid)

    def see(self, openid: str) -> User:
        """An openid the account now knows (OAuth, a payment), following or not."""
        with self.lock:
            user = self.users.get(openid)
            if user is None:
                user = self.users[openid] = User(openid=openid, subscribed=False)
            return user

    def follow(self, openid: str, at: float, scene: str = "") -> User:
        with self.lock:
            user = self.see(openid)
            user.subscribed, user.subscribe_time = True, int(at)
            user.subscribe_scene, user.qr_scene, user.qr_scene_str = "ADD_SCENE_OTHERS", 0, ""
            if scene:
                user.subscribe_scene = "ADD_SCENE_QR_CODE"
                if scene.isdigit():
                    user.qr_scene, user.qr_scene_str = int(scene), ""
                else:
                    user.qr_scene, user.qr_scene_str = 0, scene
            return user

    def unfollow(self, openid: str) -> User:
        with self.lock:
            user = self.see(openid)
            user.subscribed = False
            user.windows.clear()
            return user

    # ---------------------------------------------------------------- customer-service windows

    def open_window(self, openid: str, kind: str, at: float) -> None:
        """The user acted: a fresh window of this kind replaces the last one."""
        count, seconds = WINDOWS[kind]
        with self.lock:
            self.see(openid).windows[kind] = Window(kind, at, at + seconds, count)

    def take_window(self, openid: str, at: float) -> str | None:
        """Spend one message of the user's open windows (the soonest to close first).
        None when sent; else the rule id that refuses it."""
        with self.lock:
            user = self.users.get(openid)
            live = sorted((w for w in (user.windows.values() if user and user.subscribed else ())
                           if w.expires_at > at), key=lambda w: w.expires_at)
            if not live:
                return "custom.window"
            for window in live:
                if window.remaining is None or window.remaining > 0:
                    if window.remaining is not None:
                        window.remaining -= 1
                    return None
            return "custom.quota"
