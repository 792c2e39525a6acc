"""What wxcrm does with each message and event WeChat pushes to the callback.

``receive`` is the entry: it claims the message's key (MsgId for messages; FromUserName +
CreateTime + event for events, which carry no MsgId), so a WeChat retry replays the
first reply and changes nothing, opens the customer-service window the action really
opens (a message; a follow, scan or menu click; nothing for VIEW, job reports or card
events) and dispatches. WeChat's reports on our template and mass sends go to the outbox. Everything here is quick database work; slow
work goes to the outbox. Takes a session, flushes, never commits.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatClientException
from wechatpy.messages import BaseMessage

from wxcrm.benefits.events import enrol_member, record_referral
from wxcrm.campaigns import consent
from wxcrm.cards import wallet
from wxcrm.config import Settings
from wxcrm.coupons import wallet_card
from wxcrm.errors import DomainError
from wxcrm.ledger import service as ledger
from wxcrm.members import service as members
from wxcrm.members.models import Member, Store
from wxcrm.messages import mass, outbox
from wxcrm.money import fen_to_yuan_str
from wxcrm.timeutil import Clock
from wxcrm.wechat.adapter.client import wechat_client
from wxcrm.wechat.adapter.menu import KEY_CARD, KEY_COUPONS, KEY_POINTS
from wxcrm.wechat.adapter.models import InboundEvent

log = logging.getLogger(__name__)

# what a customer may type -> (answer, language)
KEYWORDS: dict[str, tuple[str, str]] = {
    "积分": ("points", "zh"), "我的积分": ("points", "zh"), "points": ("points", "en"), "point": ("points", "en"),
    "余额": ("balance", "zh"), "储值": ("balance", "zh"), "balance": ("balance", "en"),
    "优惠券": ("coupons", "zh"), "券": ("coupons", "zh"), "coupons": ("coupons", "en"), "coupon": ("coupons", "en"),
    "会员卡": ("card", "zh"), "卡": ("card", "zh"), "card": ("card", "en"), "member card": ("card", "en"),
    "membership": ("card", "en"),
}
SCENE_STORE = re.compile(r"^store_([A-Za-z0-9_-]{2,32})$")
SCENE_REFERRER = re.compile(r"^ref_(\d{1,12})$")


@dataclass(frozen=True)
class Context:
    """One callback: the settings and the moment it arrived."""
    settings: Settings
    clock: Clock

    @property
    def brand(self) -> str:
        return self.settings.brand_name

    @property
    def today(self):
        return self.clock.today

    def page(self, path: str) -> str:
        return f"{self.settings.public_url.rstrip('/')}/h5{path}"


# what the user did -> the customer-service window it opens (``messages.windows``)
WINDOW_ACTIONS = {"subscribe": "follow", "subscribe_scan": "follow", "scan": "scan", "click": "menu",
                  "scancode_push": "menu", "scancode_waitmsg": "menu"}
REPORTS = ("masssendjobfinish", "templatesendjobfinish")


def dedup_key(msg: BaseMessage) -> str:
    event = getattr(msg, "event", "") or msg.type
    if msg.type != "event" and msg.id:
        return f"msg:{msg.id}"
    if event in REPORTS:   # two reports can share a second (and the mass helper's "openid")
        return f"evt:{event}:{getattr(msg, 'id', '')}"[:191]
    if event in CARD_EVENTS:   # one wx.addCard adds several cards in the same second; reviews share a sender
        data = getattr(msg, "_data", {}) or {}
        return f"evt:{msg.source}:{msg.time}:{event}:{data.get('CardId', '')}:{data.get('UserCardCode', '')}"[:191]
    return f"evt:{msg.source}:{msg.time}:{event}"[:191]


def window_action(msg: BaseMessage) -> str | None:
    """The customer-service window this message or event opens, if any."""
    if msg.type == "event":
        return WINDOW_ACTIONS.get(getattr(msg, "event", ""))
    return "message"


def stored_reply(session: Session, key: str) -> str | None:
    return session.scalar(select(InboundEvent.reply).where(InboundEvent.dedup_key == key))


def receive(session: Session, msg: BaseMessage, ctx: Context) -> tuple[str, bool]:
    """Handle one message once. Returns (reply text, replayed).

    The key row is inserted first: a concurrent duplicate waits on the unique index and
    then fails with IntegrityError; the caller rolls back and replays ``stored_reply``.
    """
    key = dedup_key(msg)
    previous = stored_reply(session, key)
    if previous is not None:
        return previous, True
    row = InboundEvent(dedup_key=key, openid=msg.source or "", kind=getattr(msg, "event", "") or msg.type,
                       reply="", received_at=ctx.clock.utc)
    session.add(row)
    session.flush()
    action = window_action(msg)
    if msg.source and action:
        outbox.record_user_action(session, msg.source, action, ctx.clock.utc)
    row.reply = dispatch(session, msg, ctx)
    session.flush()
    return row.reply, False


def dispatch(session: Session, msg: BaseMessage, ctx: Context) -> str:
    openid = msg.source
    if not openid:
        return ""
    if msg.type == "event":
        event = msg.event
        if event in ("subscribe", "subscribe_scan"):
            return follow(session, openid, scene=_scene(msg), ctx=ctx)
        if event == "scan":
            return scan(session, openid, scene=_scene(msg), ctx=ctx)
        if event == "unsubscribe":
            unfollow(session, openid)
            return ""
        if event == "click":
            return answer_menu_click(session, openid, msg.key or "", ctx)
        if event == "masssendjobfinish":
            mass.record_report(session, ctx.settings, msg_id=str(msg.id), status=msg.status or "",
                               total=msg.total_count, filter_count=msg.filter_count, sent=msg.sent_count,
                               errors=msg.error_count, now=ctx.clock.utc)
            return ""
        if event == "templatesendjobfinish":
            outbox.record_template_report(session, ctx.settings, msgid=str(msg.id), status=msg.status or "",
                                          now=ctx.clock.utc)
            return ""
        if event in CARD_EVENTS:
            card_event(session, msg, ctx)
            return ""
        return ""  # VIEW, LOCATION, other card events: nothing to say
    if msg.type == "text":
        return answer_text(session, openid, (msg.content or "").strip(), ctx)
    return help_text("zh", ctx)


CARD_EVENTS = ("user_get_card", "user_del_card", "user_view_card", "submit_membercard_user_info",
               "user_consume_card", "card_pass_check", "card_not_pass_check")


def card_event(session: Session, msg: BaseMessage, ctx: Context) -> None:
    """Card events. A coupon card's (wxcrm.coupons.wallet_card): reviewed, added, deleted,
    consumed, whatever the setting is now (codes already in wallets still move). The wallet
    member card's (wxcrm.cards.wallet): got, deleted, viewed, and the activation form
    submitted (then the card is activated with the member's points)."""
    data = getattr(msg, "_data", {}) or {}
    code, card_id = str(data.get("UserCardCode") or ""), str(data.get("CardId") or "")
    now = ctx.clock.utc
    if wallet_card.is_coupon_card(session, card_id):
        coupon_card_event(session, msg, ctx, card_id=card_id, code=code, data=data)
        return
    if not ctx.settings.wechat_card_enabled or msg.event not in MEMBER_CARD_EVENTS:
        return
    if msg.event == "user_get_card":
        wallet.member_got_card(session, openid=msg.source, card_id=card_id, code=code, now=now)
    elif msg.event == "user_del_card":
        wallet.member_deleted_card(session, code=code, now=now)
    elif msg.event == "user_view_card":
        wallet.member_viewed_card(session, code=code, now=now)
    else:
        try:
            wallet.activate_from_form(session, wechat_client(ctx.settings, session.get_bind()), code=code,
                                      today=ctx.clock.today, now=now)
        except WeChatClientException as exc:
            log.warning("wallet card %s: activation refused: %s", code, exc)


MEMBER_CARD_EVENTS = ("user_get_card", "user_del_card", "user_view_card", "submit_membercard_user_info")


def coupon_card_event(session: Session, msg: BaseMessage, ctx: Context, *, card_id: str, code: str,
                      data: dict) -> None:
    now = ctx.clock.utc
    if msg.event in ("card_pass_check", "card_not_pass_check"):
        wallet_card.reviewed(session, card_id=card_id, passed=msg.event == "card_pass_check",
                             reason=str(data.get("RefuseReason") or ""), now=now)
    elif msg.event == "user_get_card":
        wallet_card.got(session, ctx.settings, openid=msg.source, card_id=card_id, code=code, now=now)
    elif msg.event == "user_del_card":
        wallet_card.deleted(session, code=code, now=now)
    elif msg.event == "user_consume_card":
        wallet_card.consumed(session, code=code, source=str(data.get("ConsumeSource") or ""), now=now)


def _scene(msg: BaseMessage) -> str:
    # subscribe_scan: wechatpy has already cut "qrscene_" off EventKey; SCAN carries the bare scene.
    return str(getattr(msg, "scene_id", None) or getattr(msg, "key", None) or "")


# ---------------------------------------------------------------- follow, scan, unfollow

def follow(session: Session, openid: str, *, scene: str, ctx: Context) -> str:
    """A follow creates the member (and so the card) or welcomes one back."""
    member = members.find_member(session, openid=openid)
    store = _scene_store(session, scene)
    referrer = _scene_referrer(session, scene, openid)
    if member is None:
        member = enrol_member(session, ctx.settings, clock=ctx.clock, openid=openid, followed=True,
                              home_store_code=store.code if store else None)
        member.followed = True
        session.flush()
        if referrer is not None:
            record_referral(session, member, referrer, clock=ctx.clock, settings=ctx.settings)
        log.info("wechat follow: new member %s (scene %r)", member.id, scene)
        return (f"欢迎加入{ctx.brand}！您的会员卡已开通，卡号 {member.card_no}。\n"
                f"点此查看会员卡：{ctx.page('/')}\n回复“积分”“余额”随时查询。")
    member.followed = True
    _apply_scene(session, member, store, referrer, ctx)
    return (f"欢迎回来！您的{ctx.brand}会员卡 {member.card_no} 一直为您保留。\n"
            f"点此查看会员卡：{ctx.page('/')}")


def scan(session: Session, openid: str, *, scene: str, ctx: Context) -> str:
    """A follower scanned one of our QR codes (a store's, or a friend's)."""
    member = members.find_member(session, openid=openid)
    if member is None:  # followed before wxcrm existed
        return follow(session, openid, scene=scene, ctx=ctx)
    store = _scene_store(session, scene)
    _apply_scene(session, member, store, _scene_referrer(session, scene, openid), ctx)
    if store is not None:
        return f"欢迎光临{ctx.brand}{store.name}！结账时出示会员卡即可积分：{ctx.page('/')}"
    return f"您的会员卡：{ctx.page('/')}"


def _apply_scene(session: Session, member: Member, store: Store | None, referrer: Member | None,
                 ctx: Context) -> None:
    if store is not None and member.home_store_id is None:
        member.home_store_id = store.id
    # A referral counts for someone who joined today and has no referrer yet: an old member
    # scanning a friend's code is not a new customer brought in.
    if (referrer is not None and member.referrer_id is None and member.joined_on == ctx.today
            and referrer.id != member.id):
        record_referral(session, member, referrer, clock=ctx.clock, settings=ctx.settings)
    session.flush()


def _scene_store(session: Session, scene: str) -> Store | None:
    match = SCENE_STORE.match(scene)
    if not match:
        return None
    try:
        store = members.store_by_code(session, match.group(1))
    except DomainError:
        log.warning("wechat scene names unknown store %r", scene)
        return None
    return store if store.active else None


def _scene_referrer(session: Session, scene: str, openid: str) -> Member | None:
    match = SCENE_REFERRER.match(scene)
    if not match:
        return None
    referrer = session.get(Member, int(match.group(1)))
    if referrer is None or referrer.openid == openid or referrer.status != "active":
        log.warning("wechat scene names no usable referrer: %r", scene)
        return None
    return referrer


def unfollow(session: Session, openid: str) -> None:
    """Unfollowing keeps the member and everything they have; we only stop writing to them."""
    member = members.find_member(session, openid=openid)
    if member is not None:
        member.followed = False
        session.flush()


# ---------------------------------------------------------------- questions

def answer_menu_click(session: Session, openid: str, key: str, ctx: Context) -> str:
    topic = {KEY_CARD: "card", KEY_POINTS: "points", KEY_COUPONS: "coupons"}.get(key)
    if topic is None:
        return help_text("zh", ctx)
    return answer(session, openid, topic, "zh", ctx)


def answer_text(session: Session, openid: str, text: str, ctx: Context) -> str:
    if consent.is_opt_out(text) and consent.opt_out_by_reply(session, text=text, openid=openid,
                                                             at=ctx.clock.utc):
        return "您已退订营销消息，不会再收到活动和节日推送；积分、储值等服务通知照常。可在“我的资料”中重新开启。"
    found = KEYWORDS.get(text.lower())
    if found is None:
        lang = "en" if text.isascii() and text else "zh"
        return help_text(lang, ctx)
    topic, lang = found
    return answer(session, openid, topic, lang, ctx)


def answer(session: Session, openid: str, topic: str, lang: str, ctx: Context) -> str:
    member = members.find_member(session, openid=openid)
    if member is None:  # a follower from before wxcrm: give them their card now
        follow(session, openid, scene="", ctx=ctx)
        member = members.find_member(session, openid=openid)
    zh = lang == "zh"
    if topic == "points":
        s = ledger.points_summary(session, member.id, ctx.today)
        if zh:
            return (f"您的积分：{s.balance}\n可用 {s.available}，待生效 {s.pending}，30 天内到期 {s.expiring_30d}。\n"
                    f"积分明细：{ctx.page('/points')}")
        return (f"Your points: {s.balance}\n{s.available} available, {s.pending} pending, "
                f"{s.expiring_30d} expiring within 30 days.\nHistory: {ctx.page('/points')}")
    if topic == "balance":
        yuan = fen_to_yuan_str(ledger.balance(session, member.id, "stored_value"))
        if zh:
            return f"您的储值余额：¥{yuan}\n会员卡：{ctx.page('/')}"
        return f"Your stored-value balance: ¥{yuan}\nYour card: {ctx.page('/')}"
    if topic == "coupons":
        if zh:
            return f"您的优惠券都在券包里，结账时出示会员码即可自动使用：{ctx.page('/coupons')}"
        return f"Your coupons are in your wallet and apply by themselves when you show your card: {ctx.page('/coupons')}"
    if zh:
        return f"您的{ctx.brand}会员卡号：{member.card_no}\n结账时出示会员码即可积分：{ctx.page('/')}"
    return f"Your {ctx.brand} card number: {member.card_no}\nShow its code at the till to earn points: {ctx.page('/')}"


def help_text(lang: str, ctx: Context) -> str:
    if lang == "en":
        return (f"Thank you for your message! Reply \"points\", \"balance\", \"coupons\" or \"card\", "
                f"or open your card: {ctx.page('/')}")
    return f"感谢您的留言！回复“积分”“余额”“优惠券”或“会员卡”即可查询，也可点此打开会员卡：{ctx.page('/')}"
