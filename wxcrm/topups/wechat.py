"""Top-ups paid with WeChat Pay from the member's H5 page (JSAPI).

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

from wxcrm.config import Settings
from wxcrm.errors import N_, DomainError
from wxcrm.ledger import service as ledger
from wxcrm.members.models import Member
from wxcrm.timeutil import Clock
from wxcrm.topups.models import Topup
from wxcrm.topups.service import check_topup_amount, credit_paid_topup
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


def new_out_trade_no(clock: Clock) -> str:
    return "TU" + clock.local.strftime("%Y%m%d%H%M%S") + secrets.token_hex(6).upper()


def create_pending_topup(session: Session, member: Member, amount_fen: int, *, clock: Clock,
                         settings: Settings) -> Topup:
    """The order before WeChat knows it; the caller commits, then calls ``place_order``."""
    if not settings.wechat_pay_enabled:
        raise DomainError(N_("WeChat Pay is not switched on"), code="wechat_pay_disabled", status=409)
    if not member.openid:
        raise DomainError(N_("open this page inside WeChat"), code="openid_required")
    ledger.lock_account(session, member.id, "stored_value")
    check_topup_amount(session, member, amount_fen, settings)
    topup = Topup(member_id=member.id, store_id=member.home_store_id, channel="wechat", method="wechat_pay",
                  status="pending", amount_fen=amount_fen, out_trade_no=new_out_trade_no(clock),
                  business_date=clock.today, created_at=clock.utc)
    session.add(topup)
    session.flush()
    return topup


def place_order(topup: Topup, member: Member, *, clock: Clock, settings: Settings, client_ip: str) -> dict:
    """The unified order and the JSAPI parameters (no database work: the caller stores
    ``topup.prepay_id``)."""
    pay = wechat_pay(settings)
    # WeChat Pay reads time_expire as Beijing time; wechatpy formats the datetime.
    expire = (clock.local + timedelta(minutes=ORDER_MINUTES)).astimezone(BEIJING)
    try:
        answer = pay.order.create(trade_type="JSAPI", body=f"{settings.brand_name}-储值充值"[:127],
                                  total_fee=topup.amount_fen, notify_url=notify_url(settings),
                                  client_ip=client_ip or "127.0.0.1", user_id=member.openid,
                                  out_trade_no=topup.out_trade_no, time_expire=expire,
                                  attach=f"topup:{topup.id}")
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
    return session.scalar(select(Topup.amount_fen).where(Topup.out_trade_no == out_trade_no))


def apply_payment(session: Session, notice: PaymentNotice, *, clock: Clock, settings: Settings) -> Topup | None:
    """Credit the top-up a verified payment is for, once. Returns it (None: not ours)."""
    topup = session.scalar(select(Topup).where(Topup.out_trade_no == notice.out_trade_no).with_for_update()
                           .execution_options(populate_existing=True))
    if topup is None or not notice.paid:
        return topup
    if topup.status in ("paid", "refunded"):
        return topup                      # WeChat repeats a notify until it hears SUCCESS
    if notice.total_fee != topup.amount_fen:
        log.error("payment %s for %s fen, the order was %s: not credited", notice.out_trade_no, notice.total_fee,
                  topup.amount_fen)
        return None
    member = session.get(Member, topup.member_id)
    topup.wechat_transaction_id = notice.transaction_id[:64]
    # A card closed or full since the order: the money is in, so it is credited anyway
    # (the cap was checked when the order was made); a closed card's refund follows closure.
    credit_paid_topup(session, topup, member, clock=clock, settings=settings)
    return topup


def query_order(topup: Topup, settings: Settings) -> PaymentNotice | None:
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
    """The job: every pending WeChat top-up older than a couple of minutes is asked for;
    a paid one is credited (as its notify would have), a closed or long-dead one closed.
    ``commit`` is called after each order (the WeChat call never runs under a lock)."""
    done = {"credited": 0, "closed": 0, "waiting": 0}
    if not settings.wechat_pay_enabled:
        return done
    due = list(session.scalars(select(Topup).where(
        Topup.status == "pending", Topup.channel == "wechat", Topup.created_at <= clock.utc - QUERY_AFTER)
        .order_by(Topup.id).limit(200)))
    session.rollback()                    # nothing held while WeChat answers
    for topup in due:
        notice = query_order(topup, settings)
        if notice is not None and notice.paid:
            if apply_payment(session, notice, clock=clock, settings=settings) is not None:
                done["credited"] += 1
        elif (notice is not None and not notice.paid) or topup.created_at <= clock.utc - GIVE_UP_AFTER:
            locked = session.scalar(select(Topup).where(Topup.id == topup.id).with_for_update())
            if locked.status == "pending":
                locked.status = "closed"
                done["closed"] += 1
        else:
            done["waiting"] += 1
        commit()
    return done


# ---------------------------------------------------------------- refunds of WeChat top-ups

def out_refund_no(topup: Topup) -> str:
    return f"TR{topup.id:010d}"


def send_refund(session: Session, topup_id: int, *, settings: Settings, commit) -> str:
    """Give a refunded WeChat top-up's money back through WeChat Pay's refund API (with the
    merchant certificate). The same ``out_refund_no`` every time, so a retry refunds once.
    Reads, commits (releasing every lock), calls WeChat, then marks it refunded. Returns the
    top-up's status."""
    topup = session.get(Topup, topup_id)
    if topup is None or topup.status != "refunding":
        return topup.status if topup else "missing"
    fee, refund_fee, trade_no, refund_no = topup.amount_fen, topup.refunded_principal_fen, topup.out_trade_no, \
        out_refund_no(topup)
    commit()
    try:
        wechat_pay(settings).refund.apply(total_fee=fee, refund_fee=refund_fee, out_refund_no=refund_no,
                                          out_trade_no=trade_no)
    except WeChatPayException as exc:
        log.warning("refund %s of %s refused: %s %s", refund_no, trade_no, exc.errcode, exc.errmsg)
        return "refunding"
    except Exception as exc:  # noqa: BLE001 - retried by the job
        log.warning("refund %s of %s failed: %s", refund_no, trade_no, exc)
        return "refunding"
    locked = session.scalar(select(Topup).where(Topup.id == topup_id).with_for_update()
                            .execution_options(populate_existing=True))
    if locked.status == "refunding":
        locked.status = "refunded"
    commit()
    return locked.status


def retry_refunds(session: Session, *, settings: Settings, commit) -> int:
    """The job's part: WeChat top-ups whose refund has not gone through yet."""
    ids = list(session.scalars(select(Topup.id).where(Topup.status == "refunding").order_by(Topup.id).limit(100)))
    commit()
    return sum(send_refund(session, i, settings=settings, commit=commit) == "refunded" for i in ids)
