"""Paying by WeChat Pay from the member's H5 page (JSAPI): top-ups, and paid membership
(``wxcrm.topups.membership``), through one set of plumbing. An order is a ``Topup`` or a
``MembershipPurchase``; its ``out_trade_no`` says which (``MP...``: a membership).

1. ``open_wechat_order``: a pending ``Topup`` with our ``out_trade_no``, committed by the
   caller, then the unified order through wechatpy (a call the member waits for, with a
   timeout, never under a ledger lock) and the JSAPI parameters for ``WeixinJSBridge``.
2. ``apply_payment``: a verified notify (``wechat.adapter.pay.verify_payment_notice``) or
   an order query credits the top-up, once per ``out_trade_no`` however often WeChat
   repeats itself: the top-up row is locked and only a pending one is credited.
3. ``confirm_late_orders``: the job that asks WeChat Pay about orders whose notify has not
   come, and closes the expired ones.
"""
from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatPayException

from wxcrm.benefits.events import lock_member
from wxcrm.config import Settings
from wxcrm.errors import N_, DomainError
from wxcrm.ledger import service as ledger
from wxcrm.members.models import Member, Tier
from wxcrm.timeutil import Clock
from wxcrm.topups.membership import grant_membership, tier_for_sale
from wxcrm.topups.models import MembershipPurchase, Topup
from wxcrm.topups.service import check_topup_amount, credit_paid_topup, preview_bonus
from wxcrm.wechat.adapter.client import wechat_pay
from wxcrm.wechat.adapter.pay import PaymentNotice, signature_matches

log = logging.getLogger(__name__)

BEIJING = ZoneInfo("Asia/Shanghai")
ORDER_MINUTES = 30            # an unpaid order expires (time_expire) after this
QUERY_AFTER = timedelta(minutes=2)      # a notify later than this is asked for
GIVE_UP_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class WeChatOrder:
    topup: Topup
    jsapi: dict


def notify_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + "/wechat/pay/notify"


def new_out_trade_no(clock: Clock, prefix: str = "TU") -> str:
    return prefix + clock.local.strftime("%Y%m%d%H%M%S") + secrets.token_hex(6).upper()


Order = Topup | MembershipPurchase


def order_model(out_trade_no: str) -> type[Topup] | type[MembershipPurchase]:
    return MembershipPurchase if out_trade_no.startswith("MP") else Topup


def order_fee(order: Order) -> int:
    return order.price_fen if isinstance(order, MembershipPurchase) else order.amount_fen


def create_pending_topup(session: Session, member: Member, amount_fen: int, *, clock: Clock,
                         settings: Settings) -> Topup:
    """The order before WeChat knows it; the caller commits, then calls ``place_order``."""
    if not settings.wechat_pay_enabled:
        raise DomainError(N_("WeChat Pay is not switched on"), code="wechat_pay_disabled", status=409)
    if not member.openid:
        raise DomainError(N_("open this page inside WeChat"), code="openid_required")
    ledger.lock_account(session, member.id, "stored_value")
    bonus = preview_bonus(session, member, (amount_fen,), settings=settings, clock=clock)[amount_fen]
    check_topup_amount(session, member, amount_fen, settings, bonus_fen=bonus)
    topup = Topup(member_id=member.id, store_id=member.home_store_id, channel="wechat", method="wechat_pay",
                  status="pending", amount_fen=amount_fen, out_trade_no=new_out_trade_no(clock),
                  business_date=clock.today, created_at=clock.utc)
    session.add(topup)
    session.flush()
    return topup


def order_body(text: str) -> str:
    """WeChat Pay's ``body`` is at most 127 bytes of UTF-8: cut on a character boundary."""
    return text.encode("utf-8")[:127].decode("utf-8", "ignore")


def create_pending_membership(session: Session, member: Member, tier_code: str, *, clock: Clock,
                              settings: Settings) -> MembershipPurchase:
    """Paid membership bought by the member from the H5 page: a pending purchase with our
    ``out_trade_no``; the caller commits, then calls ``place_order``."""
    if not settings.wechat_pay_enabled:
        raise DomainError(N_("WeChat Pay is not switched on"), code="wechat_pay_disabled", status=409)
    if not member.openid:
        raise DomainError(N_("open this page inside WeChat"), code="openid_required")
    if member.status == "closed":
        raise DomainError(N_("this membership is closed"), code="member_closed")
    tier = tier_for_sale(session, tier_code)
    purchase = MembershipPurchase(member_id=member.id, tier_id=tier.id, store_id=member.home_store_id,
                                  price_fen=tier.price_fen, method="wechat_pay", months=tier.term_months,
                                  expires_on=clock.today, created_at=clock.utc, channel="wechat", status="pending",
                                  out_trade_no=new_out_trade_no(clock, prefix="MP"))
    session.add(purchase)
    session.flush()
    return purchase


def place_order(topup: Order, member: Member, *, clock: Clock, settings: Settings, client_ip: str,
                what: str = "储值充值") -> dict:
    """The unified order and the JSAPI parameters for a top-up or a membership (no
    database work: the caller stores ``prepay_id``)."""
    pay = wechat_pay(settings)
    # WeChat Pay reads time_expire as Beijing time; wechatpy formats the datetime.
    expire = (clock.local + timedelta(minutes=ORDER_MINUTES)).astimezone(BEIJING)
    kind = "membership" if isinstance(topup, MembershipPurchase) else "topup"
    try:
        answer = pay.order.create(trade_type="JSAPI", body=order_body(f"{settings.brand_name}-{what}"),
                                  total_fee=order_fee(topup), notify_url=notify_url(settings),
                                  client_ip=client_ip or "127.0.0.1", user_id=member.openid,
                                  out_trade_no=topup.out_trade_no, time_expire=expire,
                                  attach=f"{kind}:{topup.id}")
    except WeChatPayException as exc:
        log.warning("unified order %s refused: %s %s", topup.out_trade_no, exc.errcode, exc.errmsg)
        raise DomainError(N_("WeChat Pay refused the order; please try again"), code="wechat_pay_refused",
                          status=502, params={"errcode": str(exc.errcode or exc.return_code)}) from exc
    except Exception as exc:  # noqa: BLE001 - a timeout or a broken answer: the member may retry
        log.warning("unified order %s failed: %s", topup.out_trade_no, exc)
        raise DomainError(N_("WeChat Pay did not answer; please try again"), code="wechat_pay_unavailable",
                          status=503) from exc
    topup.prepay_id = str(answer.get("prepay_id", ""))
    return pay.jsapi.get_jsapi_params(topup.prepay_id)


def expected_fee(session: Session, out_trade_no: str) -> int | None:
    model = order_model(out_trade_no)
    fee = MembershipPurchase.price_fen if model is MembershipPurchase else Topup.amount_fen
    return session.scalar(select(fee).where(model.out_trade_no == out_trade_no))


def apply_payment(session: Session, notice: PaymentNotice, *, clock: Clock, settings: Settings) -> Order | None:
    """Apply the order a verified payment is for, once: credit the top-up or give the
    membership. Returns the order (None: not ours)."""
    model = order_model(notice.out_trade_no)
    order = session.scalar(select(model).where(model.out_trade_no == notice.out_trade_no).with_for_update()
                           .execution_options(populate_existing=True))
    if order is None or not notice.paid:
        return order
    if order.status not in ("pending", "closed"):
        # WeChat repeats a notify until it hears SUCCESS: a paid order (or one already on
        # its way back: refunding, refunded) is never applied twice.
        return order
    if notice.total_fee != order_fee(order):
        log.error("payment %s for %s fen, the order was %s: not applied", notice.out_trade_no, notice.total_fee,
                  order_fee(order))
        return None
    member = session.get(Member, order.member_id)
    order.wechat_transaction_id = notice.transaction_id[:64]
    if member.status == "closed":
        # Paid after the membership was closed: nothing to credit or to give; the money goes
        # back through WeChat Pay's refund (``send_refund``, after the commit).
        order.status = "refunding"
        order.paid_at = clock.utc
        if isinstance(order, Topup):
            order.refunded_principal_fen = order.amount_fen
            order.refunded_at = clock.utc
        log.info("payment %s for a closed membership: refunded", notice.out_trade_no)
        return order
    if isinstance(order, MembershipPurchase):
        lock_member(session, member)
        grant_membership(session, order, member, session.get(Tier, order.tier_id), clock=clock)
        return order
    # A card full since the order: the money is in, so it is credited anyway (the cap, with
    # the bonus, was checked when the order was made; a bonus past the cap is cut).
    credit_paid_topup(session, order, member, clock=clock, settings=settings, cut_bonus_at_cap=True)
    return order


def query_order(topup: Order, settings: Settings) -> PaymentNotice | None:
    """Ask WeChat Pay about one order; a paid, verified answer as a notice (None: not
    paid, or an answer that is not trustworthy)."""
    pay = wechat_pay(settings)
    try:
        data = dict(pay.order.query(out_trade_no=topup.out_trade_no))
    except WeChatPayException as exc:
        log.info("order query %s: %s %s", topup.out_trade_no, exc.errcode, exc.errmsg)
        return None
    except Exception as exc:  # noqa: BLE001
        log.warning("order query %s failed: %s", topup.out_trade_no, exc)
        return None
    data = {k: str(v) for k, v in data.items()}
    if not signature_matches(data, settings.wechat_pay_api_key) \
            or not hmac.compare_digest(data.get("appid", ""), settings.wechat_app_id) \
            or not hmac.compare_digest(data.get("mch_id", ""), settings.wechat_mch_id):
        log.error("order query %s: an answer not signed for our merchant", topup.out_trade_no)
        return None
    state = data.get("trade_state", "")
    if state == "CLOSED":
        return PaymentNotice(topup.out_trade_no, "", int(data.get("total_fee") or 0), "", False, data)
    if state not in ("SUCCESS", "REFUND"):
        return None
    fee = data.get("total_fee", "")
    if not fee.isdigit():
        return None
    return PaymentNotice(topup.out_trade_no, data.get("transaction_id", ""), int(fee), data.get("openid", ""),
                         True, data)


def confirm_late_orders(session: Session, *, clock: Clock, settings: Settings, commit) -> dict:
    """The job: every pending WeChat order (top-up or membership) older than a couple of
    minutes is asked for; a paid one is applied (as its notify would have), a closed or
    long-dead one closed. ``commit`` is called after each order (the WeChat call never runs
    under a lock)."""
    done = {"credited": 0, "closed": 0, "waiting": 0}
    if not settings.wechat_pay_enabled:
        return done
    due: list[Order] = []
    for model in (Topup, MembershipPurchase):
        due += session.scalars(select(model).where(
            model.status == "pending", model.channel == "wechat", model.created_at <= clock.utc - QUERY_AFTER)
            .order_by(model.id).limit(200))
    session.rollback()                    # nothing held while WeChat answers
    for topup in due:
        notice = query_order(topup, settings)
        if notice is not None and notice.paid:
            if apply_payment(session, notice, clock=clock, settings=settings) is not None:
                done["credited"] += 1
        elif (notice is not None and not notice.paid) or topup.created_at <= clock.utc - GIVE_UP_AFTER:
            model = type(topup)
            locked = session.scalar(select(model).where(model.id == topup.id).with_for_update()
                                    .execution_options(populate_existing=True))
            if locked.status == "pending":
                locked.status = "closed"
                done["closed"] += 1
        else:
            done["waiting"] += 1
        commit()
    return done


# ---------------------------------------------------------------- refunds of WeChat orders

def out_refund_no(topup: Order) -> str:
    return f"MR{topup.id:010d}" if isinstance(topup, MembershipPurchase) else f"TR{topup.id:010d}"


def refund_fee(order: Order) -> int:
    """What goes back: a top-up's refunded principal; a membership paid after its closure, all."""
    return order.price_fen if isinstance(order, MembershipPurchase) else order.refunded_principal_fen


def send_refund(session: Session, topup_id: int, *, settings: Settings, commit,
                model: type[Topup] | type[MembershipPurchase] = Topup) -> str:
    """Give a refunded WeChat order's money back through WeChat Pay's refund API (with the
    merchant certificate). The same ``out_refund_no`` every time, so a retry refunds once.
    Reads, commits (releasing every lock), calls WeChat, then marks it refunded. Returns the
    order's status."""
    topup = session.get(model, topup_id)
    if topup is None or topup.status != "refunding":
        return topup.status if topup else "missing"
    fee, refund, trade_no, refund_no = order_fee(topup), refund_fee(topup), topup.out_trade_no, out_refund_no(topup)
    commit()
    try:
        wechat_pay(settings).refund.apply(total_fee=fee, refund_fee=refund, out_refund_no=refund_no,
                                          out_trade_no=trade_no)
    except WeChatPayException as exc:
        log.warning("refund %s of %s refused: %s %s", refund_no, trade_no, exc.errcode, exc.errmsg)
        return "refunding"
    except Exception as exc:  # noqa: BLE001 - retried by the job
        log.warning("refund %s of %s failed: %s", refund_no, trade_no, exc)
        return "refunding"
    locked = session.scalar(select(model).where(model.id == topup_id).with_for_update()
                            .execution_options(populate_existing=True))
    if locked.status == "refunding":
        locked.status = "refunded"
    commit()
    return locked.status


def retry_refunds(session: Session, *, settings: Settings, commit) -> int:
    """The job's part: WeChat orders whose refund has not gone through yet."""
    done = 0
    for model in (Topup, MembershipPurchase):
        ids = list(session.scalars(select(model.id).where(model.status == "refunding").order_by(model.id).limit(100)))
        commit()
        done += sum(send_refund(session, i, settings=settings, commit=commit, model=model) == "refunded" for i in ids)
    return done
