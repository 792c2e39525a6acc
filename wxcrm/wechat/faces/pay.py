"""WeChat Pay's notify URL: a paid top-up is verified (signature, appid, mch_id, our order
and its amount) and credited once per out_trade_no, however often WeChat repeats it."""
from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from wxcrm.config import current_settings
from wxcrm.extensions import db
from wxcrm.timeutil import Clock
from wxcrm.topups import wechat as wechat_topups
from wxcrm.wechat.adapter.pay import answer_payment_notice, notice_reply

log = logging.getLogger(__name__)

bp = Blueprint("wechat_pay", __name__)


@bp.post("/pay/notify")
def pay_notify():
    settings = current_settings()
    body = request.get_data(cache=False)[:65536]
    notice, reply = answer_payment_notice(body, settings, lambda no: wechat_topups.expected_fee(db.session, no))
    if notice is not None:
        try:
            credited = wechat_topups.apply_payment(db.session, notice, clock=Clock.now(settings.tz), settings=settings)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("pay notify %s could not be applied", notice.out_trade_no)
            reply = notice_reply(False, "retry later")   # WeChat tries again on its schedule
        else:
            if credited is None:
                reply = notice_reply(False, "not credited")
    return Response(reply, mimetype="text/xml")
