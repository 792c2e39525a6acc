"""Messages to users: template, customer-service and mass sends, each held to WeChat's
rules, and the job reports WeChat pushes after template and mass sends."""
from __future__ import annotations

import hashlib
import json

from flask import Blueprint

from wxcrm.wechat.standin.rules import refuse
from wxcrm.wechat.standin.runtime import Runtime, rt
from wxcrm.wechat.standin.state import MASS_PER_MONTH
from wxcrm.wechat.standin.wire import json_body, ok

bp = Blueprint("standin_messages", __name__)

TEMPLATES_PER_DAY = 100_000
MASS_CALLS_PER_DAY = 100
PREVIEWS_PER_DAY = 100
SENDALL_PER_MONTH = 4
MASS_MIN, MASS_MAX = 2, 10_000
CLIENTMSGID_SECONDS = 24 * 3600
TEMPLATE_DEDUP_SECONDS = 600
MASS_HELPER = "mphelper"   # FromUserName of MASSSENDJOBFINISH: the account's mass-send assistant
CUSTOM_TYPES = {"text", "image", "voice", "video", "music", "news", "mpnews", "mpnewsarticle", "msgmenu", "wxcard",
                "miniprogrampage"}
MASS_TYPES = {"text", "mpnews", "voice", "image", "mpvideo", "wxcard"}


def _follower(openid: object, unknown: str, unfollowed: str):
    user = rt().state.user(openid) if isinstance(openid, str) else None
    if user is None:
        raise refuse(unknown)
    if not user.subscribed:
        raise refuse(unfollowed)
    return user


# ---------------------------------------------------------------- template messages

@bp.post("/cgi-bin/message/template/send")
def template_send():
    data = json_body()
    run = rt()
    template = run.state.templates.get(data.get("template_id"))
    if template is None:
        raise refuse("template.id")
    user = _follower(data.get("touser"), "template.user", "template.subscribe")
    bad = template.bad_keyword(data.get("data"))
    if bad:
        raise refuse("template.value", key=bad)
    now = run.now()
    dedup = (user.openid, data.get("client_msg_id")) if data.get("client_msg_id") else None
    with run.state.lock:
        earlier = run.state.template_sends.get(dedup) if dedup else None
        if earlier and now - earlier[1] < TEMPLATE_DEDUP_SECONDS:
            return ok(msgid=earlier[0])
        if not run.state.take_quota("template", run.clock.day(), TEMPLATES_PER_DAY):
            raise refuse("template.daily")
        msgid = 2_000_000_000 + run.state.next_id()
        if dedup:
            run.state.template_sends[dedup] = (msgid, now)
    status = "failed:user block" if user.blocks_templates else "success"
    run.push_later(run.pusher().event_xml(user.openid, "TEMPLATESENDJOBFINISH", MsgID=str(msgid), Status=status),
                   f"TEMPLATESENDJOBFINISH {msgid}", msgid=msgid, report={"Status": status})
    return ok(msgid=msgid)


# ---------------------------------------------------------------- customer-service messages

@bp.post("/cgi-bin/message/custom/send")
def custom_send():
    data = json_body()
    msgtype = data.get("msgtype")
    if msgtype not in CUSTOM_TYPES:
        raise refuse("custom.msgtype")
    if msgtype == "text" and not str((data.get("text") or {}).get("content") or "").strip():
        raise refuse("custom.empty")
    run = rt()
    openid = data.get("touser")
    if not isinstance(openid, str) or run.state.user(openid) is None:
        raise refuse("custom.user")
    refused = run.state.take_window(openid, run.now())
    if refused:
        raise refuse(refused)
    return ok()


# ---------------------------------------------------------------- mass sends

def _check_mass_content(data: dict) -> str:
    """The content's digest; refuses content WeChat would not send."""
    msgtype = data.get("msgtype")
    if msgtype not in MASS_TYPES:
        raise refuse("mass.msgtype")
    body = data.get(msgtype) or {}
    if msgtype == "text" and not str(body.get("content") or "").strip():
        raise refuse("mass.empty")
    if msgtype == "wxcard" and body.get("card_id") not in rt().state.cards:
        raise refuse("mass.card")
    if msgtype in ("mpnews", "voice", "image", "mpvideo"):
        raise refuse("mass.media")
    return json.dumps({"type": msgtype, "body": body}, sort_keys=True, ensure_ascii=False)


def _admit(run: Runtime, data: dict, recipients: object, content: str, *quotas: tuple[str, str, int, str]) -> None:
    """Take the call's quotas and its clientmsgid, or refuse having taken none of them."""
    digest = hashlib.sha256(json.dumps([recipients, content], ensure_ascii=False).encode()).hexdigest()
    key = str(data.get("clientmsgid") or "") or digest
    now = run.now()
    with run.state.lock:
        at = run.state.clientmsgids.get(key)
        if at is not None and now - at < CLIENTMSGID_SECONDS:
            raise refuse("mass.clientmsgid")
        for name, period, limit, rule in quotas:
            if run.state.quotas.get((name, period), 0) >= limit:
                raise refuse(rule)
        for name, period, limit, _ in quotas:
            run.state.take_quota(name, period, limit)
        run.state.clientmsgids[key] = now


def _deliver_mass(run: Runtime, openids: list[str], msgtype: str) -> dict:
    """Send to whoever may still receive a mass message this month; report like WeChat."""
    month = run.clock.month()
    with run.state.lock:
        sent = 0
        for openid in dict.fromkeys(openids):
            user = run.state.user(openid)
            if user is None or not user.subscribed or user.mass_received.get(month, 0) >= MASS_PER_MONTH:
                continue
            user.mass_received[month] = user.mass_received.get(month, 0) + 1
            sent += 1
        msg_id = 1_000_000_000 + run.state.next_id()
        report = {"MsgID": str(msg_id), "Status": "send success" if sent else "send fail",
                  "TotalCount": str(len(openids)), "FilterCount": str(sent), "SentCount": str(sent),
                  "ErrorCount": "0"}
        run.state.mass_jobs[msg_id] = {"msgtype": msgtype, "at": run.now(), **report}
    fields = run.pusher().event_xml(MASS_HELPER, "MASSSENDJOBFINISH", **report,
                                    CopyrightCheckResult={"Count": "0", "ResultList": "", "CheckState": "1"})
    run.push_later(fields, f"MASSSENDJOBFINISH {msg_id}", msg_id=msg_id, report=report)
    answer = {"msg_id": msg_id}
    if msgtype == "mpnews":
        answer["msg_data_id"] = msg_id
    return answer


@bp.post("/cgi-bin/message/mass/send")
def mass_send():
    data = json_body()
    openids = data.get("touser")
    if not isinstance(openids, list) or not MASS_MIN <= len(openids) <= MASS_MAX:
        raise refuse("mass.openid_count")
    content = _check_mass_content(data)
    run = rt()
    _admit(run, data, sorted(map(str, openids)), content, ("mass", run.clock.day(), MASS_CALLS_PER_DAY, "mass.daily"))
    return ok("send job submission success", **_deliver_mass(run, [str(o) for o in openids], data["msgtype"]))


@bp.post("/cgi-bin/message/mass/sendall")
def mass_sendall():
    data = json_body()
    target = data.get("filter") or {}
    if not target.get("is_to_all"):
        raise refuse("mass.tag")
    content = _check_mass_content(data)
    run = rt()
    _admit(run, data, "all", content, ("mass", run.clock.day(), MASS_CALLS_PER_DAY, "mass.daily"),
           ("sendall", run.clock.month(), SENDALL_PER_MONTH, "mass.sendall_quota"))
    with run.state.lock:
        followers = [u.openid for u in run.state.users.values() if u.subscribed]
    return ok("send job submission success", **_deliver_mass(run, followers, data["msgtype"]))


@bp.post("/cgi-bin/message/mass/preview")
def mass_preview():
    data = json_body()
    _follower(data.get("touser"), "user.openid", "mass.preview_user")
    _check_mass_content(data)
    run = rt()
    if not run.state.take_quota("preview", run.clock.day(), PREVIEWS_PER_DAY):
        raise refuse("mass.daily")
    return ok("preview success", msg_id=1_000_000_000 + run.state.next_id())
