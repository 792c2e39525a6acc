"""What a user does in WeChat, played by the stand-in: the event is pushed into wxcrm
as WeChat would push it, and the stand-in remembers what it means (who follows, which
customer-service window the action opened)."""
from __future__ import annotations

from wxcrm.wechat.standin.cards import push_card_event
from wxcrm.wechat.standin.runtime import Runtime

DEFAULT_OPENID = "o-standin-user"
# event -> the customer-service window it opens (None: none)
USER_EVENTS: dict[str, str | None] = {"subscribe": "event", "scan": "event", "click": "event",
                                      "unsubscribe": None, "view": None, "text": "message"}
CARD_EVENTS = ("user_get_card", "user_del_card", "user_view_card", "user_consume_card",
               "submit_membercard_user_info")
DETAIL = ("scene", "key", "text", "url")


def push_event(run: Runtime, data: dict) -> tuple[dict, int]:
    """Push one user event; the pushed entry (status and wxcrm's reply) and an HTTP status."""
    event = (data.get("event") or "text").lower()
    if event in CARD_EVENTS:
        return push_card_event(run, event, data)
    if event not in USER_EVENTS:
        return {"error": f"unknown event {event}"}, 400
    openid = data.get("openid") or DEFAULT_OPENID
    now = run.now()
    if event == "subscribe":
        run.state.follow(openid, now, data.get("scene") or "")
    elif event == "unsubscribe":
        run.state.unfollow(openid)
    else:
        user = run.state.user(openid)
        if user is not None and not user.subscribed:
            return {"error": f"{openid} does not follow the account; WeChat carries nothing from them "
                             f"until they follow again (push a subscribe)"}, 409
        if user is None:
            run.state.follow(openid, now)
    if USER_EVENTS[event]:
        run.state.open_window(openid, USER_EVENTS[event], now)
    pusher = run.pusher()
    fields = {
        "subscribe": lambda: pusher.follow_xml(openid, data.get("scene") or None),
        "scan": lambda: pusher.event_xml(openid, "SCAN", data.get("scene", ""), Ticket="standin-ticket"),
        "unsubscribe": lambda: pusher.event_xml(openid, "unsubscribe"),
        "click": lambda: pusher.event_xml(openid, "CLICK", data.get("key", "")),
        "view": lambda: pusher.event_xml(openid, "VIEW", data.get("url", "")),
        "text": lambda: pusher.text_xml(openid, data.get("text", "")),
    }[event]()
    return run.push(fields, event=event, **{k: v for k, v in data.items() if k in DETAIL}), 200
