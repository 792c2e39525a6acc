"""The card API (member cards and coupons) and the card events a user's actions push.

Cards are created with WeChat's required fields and limits and reviewed (at once, with
``card_pass_check`` pushed a moment later; or, after ``/standin/cards/review-mode``, only when
``/standin/cards/review`` says so). A code exists once a user received the card: through
``/standin/add-card`` (what WeChat's client does for the JS-SDK's ``wx.addCard``: the cardExt
and its signature are checked) or ``/standin/push`` with ``user_get_card``; then it can be
activated, updated, checked, consumed and made unavailable as WeChat allows.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from urllib.parse import urlparse

from flask import Blueprint, jsonify, request

from wxcrm.wechat.standin.rules import refuse
from wxcrm.wechat.standin.runtime import Runtime, rt
from wxcrm.wechat.standin.wire import json_body, ok

bp = Blueprint("standin_cards", __name__)

CARD_TYPES = {"MEMBER_CARD": "member_card", "GENERAL_COUPON": "general_coupon", "CASH": "cash",
              "DISCOUNT": "discount", "GIFT": "gift", "GROUPON": "groupon"}
COUPON_DETAIL = {"GENERAL_COUPON": "default_detail", "GIFT": "gift", "GROUPON": "deal_detail"}
CODE_TYPES = {"CODE_TYPE_TEXT", "CODE_TYPE_BARCODE", "CODE_TYPE_QRCODE", "CODE_TYPE_ONLY_QRCODE",
              "CODE_TYPE_ONLY_BARCODE", "CODE_TYPE_NONE"}
COLORS = {"Color010", "Color020", "Color030", "Color040", "Color050", "Color060", "Color070", "Color080",
          "Color081", "Color082", "Color090", "Color100", "Color101", "Color102"}
BASE_REQUIRED = ("logo_url", "code_type", "brand_name", "title", "color", "notice", "description", "sku",
                 "date_info")
LENGTHS = {"brand_name": 12, "title": 9, "notice": 16, "description": 1024}
MAX_QUANTITY = 100_000_000
DEFAULT_GET_LIMIT = 50          # base_info.get_limit when absent
DAY = 86_400
REVIEWED = "CARD_STATUS_VERIFY_OK"
FORM_FIELDS = {"USER_FORM_INFO_FLAG_MOBILE", "USER_FORM_INFO_FLAG_SEX", "USER_FORM_INFO_FLAG_NAME",
               "USER_FORM_INFO_FLAG_BIRTHDAY", "USER_FORM_INFO_FLAG_IDCARD", "USER_FORM_INFO_FLAG_EMAIL",
               "USER_FORM_INFO_FLAG_LOCATION", "USER_FORM_INFO_FLAG_EDUCATION_BACKGRO",
               "USER_FORM_INFO_FLAG_INDUSTRY", "USER_FORM_INFO_FLAG_INCOME", "USER_FORM_INFO_FLAG_HABIT"}
RICH_FIELD_TYPES = {"FORM_FIELD_RADIO", "FORM_FIELD_SELECT", "FORM_FIELD_CHECK_BOX"}
FIELD_NAME_TYPES = {"FIELD_NAME_TYPE_LEVEL", "FIELD_NAME_TYPE_COUPON", "FIELD_NAME_TYPE_STAMP",
                    "FIELD_NAME_TYPE_DISCOUNT", "FIELD_NAME_TYPE_ACHIEVEMEN", "FIELD_NAME_TYPE_MILEAGE",
                    "FIELD_NAME_TYPE_SET_POINTS", "FIELD_NAME_TYPE_TIMS"}
CUSTOM_FIELDS = ("custom_field1", "custom_field2", "custom_field3")
FIELD_VALUE_BYTES = 12


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _present(obj: dict, name: str, where: str = "") -> object:
    value = obj.get(name)
    if value is None or value == "" or value == {}:
        raise refuse("card.required", field=where + name)
    return value


# ---------------------------------------------------------------- create

def _check_base(card_type: str, base: dict, now: float) -> None:
    for name in BASE_REQUIRED:
        _present(base, name, "base_info.")
    url = urlparse(str(base["logo_url"]))
    if url.scheme not in ("http", "https") or not url.netloc:
        raise refuse("card.value", field="base_info.logo_url")
    if base["code_type"] not in CODE_TYPES:
        raise refuse("card.code_type")
    if base["color"] not in COLORS:
        raise refuse("card.color")
    for name, limit in LENGTHS.items():
        if len(str(base[name])) > limit:
            raise refuse("card.length", field="base_info." + name)
    sku = base["sku"]
    if not isinstance(sku, dict) or "quantity" not in sku:
        raise refuse("card.required", field="base_info.sku.quantity")
    quantity = _int(sku["quantity"])
    if quantity is None or not 0 <= quantity <= MAX_QUANTITY:
        raise refuse("card.quantity")
    if "get_limit" in base and (_int(base["get_limit"]) is None or base["get_limit"] < 1):
        raise refuse("card.get_limit")
    _check_dates(card_type, base["date_info"], now)


def _check_dates(card_type: str, info: object, now: float) -> None:
    info = info if isinstance(info, dict) else {}
    kind = info.get("type")
    if kind == "DATE_TYPE_FIX_TIME_RANGE":
        begin, end = _int(info.get("begin_timestamp")), _int(info.get("end_timestamp"))
        if begin is None or end is None or end <= begin or end <= now:
            raise refuse("card.date")
    elif kind == "DATE_TYPE_FIX_TERM":
        term, start = _int(info.get("fixed_term")), _int(info.get("fixed_begin_term", 0))
        if term is None or term <= 0 or start is None or start < 0:
            raise refuse("card.date")
        if "end_timestamp" in info and (_int(info["end_timestamp"]) is None or info["end_timestamp"] <= now):
            raise refuse("card.date")           # a fixed term may also have one end for every code
    elif not (kind == "DATE_TYPE_PERMANENT" and card_type == "MEMBER_CARD"):
        raise refuse("card.date")


def _check_kind(run: Runtime, card_type: str, detail: dict) -> None:
    if card_type == "MEMBER_CARD":
        _present(detail, "prerogative")
        for flag in ("supply_bonus", "supply_balance"):
            if not isinstance(detail.get(flag), bool):
                raise refuse("card.required", field=flag)
        if detail["supply_balance"] and not run.cfg.card_balance_permission:
            raise refuse("card.balance")
        for name in CUSTOM_FIELDS:
            _check_custom_field(detail.get(name), name)
    elif card_type == "CASH":
        least, reduce = _present(detail, "least_cost"), _present(detail, "reduce_cost")
        if _int(least) is None or least < 0 or _int(reduce) is None or reduce <= 0:
            raise refuse("card.value", field="reduce_cost")
    elif card_type == "DISCOUNT":
        discount = _present(detail, "discount")
        if _int(discount) is None or not 1 <= discount <= 99:
            raise refuse("card.value", field="discount")
    else:
        _present(detail, COUPON_DETAIL[card_type])


def _check_custom_field(field: object, where: str) -> None:
    if field is None:
        return
    if not isinstance(field, dict) or not (field.get("name_type") in FIELD_NAME_TYPES
                                           or (isinstance(field.get("name"), str) and field["name"])):
        raise refuse("card.custom_field", field=where)
    if "name_type" in field and field["name_type"] not in FIELD_NAME_TYPES:
        raise refuse("card.custom_field", field=where + ".name_type")
    if field.get("url"):
        url = urlparse(str(field["url"]))
        if url.scheme not in ("http", "https") or not url.netloc:
            raise refuse("card.custom_field", field=where + ".url")


def _field_values(card: dict, body: dict, prefix: str = "") -> dict:
    """The custom_field_value1..3 a call sets (``prefix`` "init_" at activation), checked."""
    out = {}
    for n, name in enumerate(CUSTOM_FIELDS, start=1):
        key = f"{prefix}custom_field_value{n}"
        if key not in body:
            continue
        value = body[key]
        if not isinstance(value, str) or len(value.encode()) > FIELD_VALUE_BYTES or not card["detail"].get(name):
            raise refuse("card.field_value", field=key)
        out[f"custom_field_value{n}"] = value
    return out


@bp.post("/card/create")
def create():
    body = json_body()
    card = body.get("card") if isinstance(body.get("card"), dict) else {}
    card_type = card.get("card_type")
    if card_type not in CARD_TYPES:
        raise refuse("card.type")
    detail = card.get(CARD_TYPES[card_type])
    if not isinstance(detail, dict):
        raise refuse("card.required", field=CARD_TYPES[card_type])
    base = detail.get("base_info")
    if not isinstance(base, dict):
        raise refuse("card.required", field="base_info")
    run = rt()
    _check_base(card_type, base, run.now())
    _check_kind(run, card_type, detail)
    card_id = "p" + secrets.token_urlsafe(20)[:27]
    with run.state.lock:
        manual = run.state.card_review_manual
        run.state.cards[card_id] = {
            "card_id": card_id, "card_type": card_type, "title": base["title"], "base_info": base, "detail": detail,
            "use_custom_code": bool(base.get("use_custom_code")), "quantity": base["sku"]["quantity"],
            "get_limit": base.get("get_limit", DEFAULT_GET_LIMIT), "bind_openid": bool(base.get("bind_openid")),
            "supply_bonus": bool(detail.get("supply_bonus")), "supply_balance": bool(detail.get("supply_balance")),
            "status": "CARD_STATUS_NOT_VERIFY" if manual else REVIEWED, "refuse_reason": "",
            "activate_form": None, "created_at": run.now()}
    if not manual:   # reviewed at once; WeChat's card_pass_check arrives a moment later (its own job kind,
        # "review", so flushing job reports does not carry it)
        fields = run.pusher().event_xml(run.cfg.account, "card_pass_check", CardId=card_id)
        run.scheduler.add(run.cfg.job_report_delay, "review", f"card_pass_check {card_id}",
                          lambda: run.push(fields, card_id=card_id))
    return ok(card_id=card_id)


def review(run: Runtime, card_id: str, passed: bool, reason: str = "") -> tuple[dict, int]:
    """WeChat's reviewers decide on a card: its status changes and the result is pushed."""
    with run.state.lock:
        card = run.state.cards.get(card_id)
        if card is None:
            return {"error": f"no card {card_id!r}"}, 404
        card["status"] = REVIEWED if passed else "CARD_STATUS_VERIFY_FAIL"
        card["refuse_reason"] = "" if passed else (reason or "卡券信息不符合规范")
    extra = {} if passed else {"RefuseReason": card["refuse_reason"]}
    fields = run.pusher().event_xml(run.cfg.account, "card_pass_check" if passed else "card_not_pass_check",
                                    CardId=card_id, **extra)
    return run.push(fields, card_id=card_id), 200


@bp.post("/card/get")
def get_card():
    body = json_body()
    card = rt().state.cards.get(str(body.get("card_id") or ""))
    if not body.get("card_id"):
        raise refuse("card.id_missing")
    if card is None:
        raise refuse("card.id")
    base = {**card["base_info"], "id": card["card_id"], "status": card["status"],
            "sku": {"quantity": card["quantity"], "total_quantity": card["base_info"]["sku"]["quantity"]}}
    return ok(card={"card_type": card["card_type"], CARD_TYPES[card["card_type"]]: {**card["detail"],
                                                                                 "base_info": base}})


@bp.post("/card/testwhitelist/set")
def set_whitelist():
    body = json_body()
    openids = body.get("openid") or []
    if not isinstance(openids, list) or len(openids) + len(body.get("username") or []) > 10:
        raise refuse("card.whitelist")
    run = rt()
    with run.state.lock:
        run.state.card_whitelist = {str(o) for o in openids}
    return ok()


# ---------------------------------------------------------------- codes

def _code(run: Runtime, body: dict, *, card_id_required: bool = False) -> tuple[dict, dict]:
    """The user card a request names, and its card; refuses what WeChat would."""
    code = body.get("code")
    if not code:
        raise refuse("card.required", field="code")
    card_id = body.get("card_id")
    if card_id and card_id not in run.state.cards:
        raise refuse("card.id")
    row = run.state.codes.get(str(code))
    if row is None or (card_id and row["card_id"] != card_id):
        raise refuse("card.code")
    card = run.state.cards[row["card_id"]]
    if not card_id and (card_id_required or card["use_custom_code"]):
        raise refuse("card.id_missing")
    return row, card


def _member_code(run: Runtime, body: dict, *, card_id_required: bool = False) -> tuple[dict, dict]:
    row, card = _code(run, body, card_id_required=card_id_required)
    if card["card_type"] != "MEMBER_CARD":
        raise refuse("card.type")
    if row["status"] == "DELETED":
        raise refuse("card.deleted")
    return row, card


def _amount(body: dict, name: str) -> int | None:
    if name not in body:
        return None
    value = _int(body[name])
    if value is None:
        raise refuse("card.value", field=name)
    return value


@bp.post("/card/membercard/activate")
def activate():
    body = json_body()
    if not body.get("membership_number"):
        raise refuse("card.required", field="membership_number")
    run = rt()
    with run.state.lock:
        row, card = _member_code(run, body)
        if row["activated"]:
            raise refuse("card.status")
        bonus, balance = _amount(body, "init_bonus"), _amount(body, "init_balance")
        if bonus is not None and (not card["supply_bonus"] or bonus < 0):
            raise refuse("card.value", field="init_bonus")
        if balance is not None and not card["supply_balance"]:
            raise refuse("card.balance")
        if balance is not None and balance < 0:
            raise refuse("card.value", field="init_balance")
        fields = _field_values(card, body, "init_")
        row.update(activated=True, membership_number=str(body["membership_number"]), bonus=bonus or 0,
                   balance=balance or 0, **fields)
    return ok()


@bp.post("/card/membercard/updateuser")
def update_user():
    body = json_body()
    run = rt()
    with run.state.lock:
        row, card = _member_code(run, body, card_id_required=True)
        if not row["activated"]:
            raise refuse("card.status")
        bonus, add_bonus = _amount(body, "bonus"), _amount(body, "add_bonus")
        balance, add_balance = _amount(body, "balance"), _amount(body, "add_balance")
        if (bonus is not None or add_bonus is not None) and not card["supply_bonus"]:
            raise refuse("card.value", field="bonus")
        if (balance is not None or add_balance is not None) and not card["supply_balance"]:
            raise refuse("card.balance")
        fields = _field_values(card, body)
        new_bonus = bonus if bonus is not None else row["bonus"] + (add_bonus or 0)
        new_balance = balance if balance is not None else row["balance"] + (add_balance or 0)
        if new_bonus < 0 or new_balance < 0:
            raise refuse("card.value", field="bonus" if new_bonus < 0 else "balance")
        modify_bonus, modify_balance = new_bonus - row["bonus"], new_balance - row["balance"]
        row.update(bonus=new_bonus, balance=new_balance, **fields)
    if modify_bonus or modify_balance:
        run.push_later(run.pusher().event_xml(row["openid"], "update_member_card", CardId=card["card_id"],
                                              UserCardCode=row["code"], ModifyBonus=str(modify_bonus),
                                              ModifyBalance=str(modify_balance)),
                       f"update_member_card {row['code']}", card_id=card["card_id"], code=row["code"])
    return ok(result_bonus=new_bonus, result_balance=new_balance, openid=row["openid"])


@bp.post("/card/code/consume")
def consume():
    body = json_body()
    run = rt()
    with run.state.lock:
        row, card = _code(run, body)
        if card["card_type"] == "MEMBER_CARD":
            raise refuse("card.type")
        if row["status"] == "DELETED":
            raise refuse("card.deleted")
        if row["status"] == "CONSUMED":
            raise refuse("card.consumed")
        if row["status"] == "UNAVAILABLE" or _expired(run, row):
            raise refuse("card.code_status")
        row["status"] = "CONSUMED"
    run.push_later(run.pusher().event_xml(row["openid"], "user_consume_card", CardId=card["card_id"],
                                          UserCardCode=row["code"], ConsumeSource="FROM_API", LocationName="",
                                          StaffOpenId="", VerifyCode="", RemarkAmount="", OuterStr=""),
                   f"user_consume_card {row['code']}", card_id=card["card_id"], code=row["code"])
    return ok(card={"card_id": card["card_id"]}, openid=row["openid"])


@bp.post("/card/code/update")
def update_code():
    """A custom code changes (wxcrm: the member's card was replaced). card_id is required;
    the old code must be the user's and not deleted; the new one must not be in use."""
    body = json_body()
    if not body.get("card_id"):
        raise refuse("card.id_missing")
    new_code = str(body.get("new_code") or "")
    if not new_code:
        raise refuse("card.required", field="new_code")
    run = rt()
    with run.state.lock:
        row, card = _code(run, body, card_id_required=True)
        if row["status"] == "DELETED":
            raise refuse("card.deleted")
        if new_code in run.state.codes:
            raise refuse("card.code_taken")
        run.state.codes.pop(row["code"])
        row["code"] = new_code
        run.state.codes[new_code] = row
    return ok()


def _expired(run: Runtime, row: dict) -> bool:
    return bool(row.get("end_time")) and run.now() > row["end_time"]


@bp.post("/card/code/unavailable")
def unavailable():
    """The merchant withdraws a user's code (it stays in the wallet, greyed): once."""
    body = json_body()
    if len(str(body.get("reason") or "")) > 30:
        raise refuse("card.reason")
    run = rt()
    with run.state.lock:
        row, card = _code(run, body)
        if row["status"] == "DELETED":
            raise refuse("card.deleted")
        if row["status"] == "CONSUMED":
            raise refuse("card.consumed")
        if row["status"] == "UNAVAILABLE":
            raise refuse("card.code_status")
        row["status"] = "UNAVAILABLE"
    return ok()


@bp.post("/card/code/get")
def get_code():
    body = json_body()
    run = rt()
    row, card = _code(run, body)
    check_consume = body.get("check_consume", True) is not False
    if check_consume and row["status"] == "CONSUMED":
        raise refuse("card.consumed")
    if check_consume and row["status"] == "DELETED":
        raise refuse("card.deleted")
    if check_consume and row["status"] == "UNAVAILABLE":
        raise refuse("card.code_status")
    status = {"NORMAL": "EXPIRE" if _expired(run, row) else "NORMAL", "CONSUMED": "CONSUMED", "DELETED": "DELETE",
              "UNAVAILABLE": "UNAVAILABLE"}[row["status"]]
    return ok(card={"card_id": card["card_id"], "code": row["code"],
                    "begin_time": int(row.get("begin_time") or row["got_at"]), "end_time": int(row.get("end_time") or 0)},
              openid=row["openid"], can_consume=status == "NORMAL" and card["card_type"] != "MEMBER_CARD",
              user_card_status=status, outer_str=row.get("outer_str", ""))


# ---------------------------------------------------------------- member card activation forms

def _check_form(form: object, where: str) -> None:
    if form is None:
        return
    if not isinstance(form, dict):
        raise refuse("card.value", field=where)
    if any(f not in FORM_FIELDS for f in form.get("common_field_id_list") or ()):
        raise refuse("card.value", field=where + ".common_field_id_list")
    for rich in form.get("rich_field_list") or ():
        if not isinstance(rich, dict) or rich.get("type") not in RICH_FIELD_TYPES or not rich.get("name") \
                or not rich.get("values"):
            raise refuse("card.value", field=where + ".rich_field_list")
    if not all(isinstance(f, str) and f for f in form.get("custom_field_list") or ()):
        raise refuse("card.value", field=where + ".custom_field_list")


@bp.post("/card/membercard/activateuserform/set")
def set_activate_form():
    body = json_body()
    card_id = body.get("card_id")
    if not card_id:
        raise refuse("card.id_missing")
    run = rt()
    card = run.state.cards.get(card_id)
    if card is None:
        raise refuse("card.id")
    if card["card_type"] != "MEMBER_CARD":
        raise refuse("card.type")
    _check_form(body.get("required_form"), "required_form")
    _check_form(body.get("optional_form"), "optional_form")
    with run.state.lock:
        card["activate_form"] = {k: v for k, v in body.items() if k != "card_id"}
    return ok()


@bp.post("/card/membercard/activatetempinfo/get")
def activate_temp_info():
    body = json_body()
    found = rt().state.activate_tickets.get(str(body.get("activate_ticket") or ""))
    if found is None:
        raise refuse("card.ticket")
    return ok(info=found["info"])


# ---------------------------------------------------------------- what users do with cards

def _receive(run: Runtime, card: dict, openid: str, code: str, outer_str: str,
             begin: float | None) -> dict | tuple[dict, int]:
    """The user receives one code of ``card`` (the caller holds the lock): the code row and
    the event's extra fields, or an error and an HTTP status for what WeChat would refuse."""
    def no(rule_id: str, status: int = 409, **detail) -> tuple[dict, int]:
        found = refuse(rule_id, **detail)
        return {"error": f"{found.rule.code} {found.message}", "errcode": found.rule.code, "rule": rule_id}, status

    if card["status"] != REVIEWED and openid not in run.state.card_whitelist:
        return {"error": f"the card is {card['status']}: only test-whitelist openids may receive it",
                "rule": "card.review"}, 409
    if card["use_custom_code"] and not code:
        return no("card.add_ext", 400)
    if card["quantity"] <= 0:
        return no("card.stock")
    held = sum(1 for c in run.state.codes.values() if c["card_id"] == card["card_id"] and c["openid"] == openid)
    if held >= card["get_limit"]:
        return no("card.get_limit")
    code = code or "".join(secrets.choice("0123456789") for _ in range(12))
    if code in run.state.codes:
        return no("card.add_custom_code")
    card["quantity"] -= 1
    run.state.see(openid)
    now = run.now()
    info = card["base_info"]["date_info"]
    if info.get("type") == "DATE_TYPE_FIX_TIME_RANGE":
        start, end = float(info["begin_timestamp"]), float(info["end_timestamp"])
    elif info.get("type") == "DATE_TYPE_FIX_TERM":
        start = (begin or now) + int(info.get("fixed_begin_term") or 0) * DAY
        end = start + int(info["fixed_term"]) * DAY
        if info.get("end_timestamp"):
            end = min(end, float(info["end_timestamp"]))
    else:
        start, end = now, 0
    run.state.codes[code] = {"code": code, "card_id": card["card_id"], "openid": openid, "status": "NORMAL",
                             "activated": False, "membership_number": "", "bonus": 0, "balance": 0,
                             "got_at": now, "begin_time": start, "end_time": end, "outer_str": outer_str}
    return {"code": code, "extra": {"IsGiveByFriend": "0", "FriendUserName": "", "OuterId": "0",
                                    "OldUserCardCode": "", "OuterStr": outer_str, "IsRestoreMemberCard": "0",
                                    "UnionId": "union-" + openid}}


def add_card(run: Runtime, openid: str, entries: list) -> tuple[dict, int]:
    """What WeChat's client does for ``wx.addCard({cardList})`` on a page: each entry's cardExt
    is checked against the wx_card api_ticket the account holds (WeChat's JS-SDK appendix 4),
    then the user receives the codes and ``user_get_card`` is pushed for each. One bad entry
    fails the call and nothing is received."""
    if not isinstance(entries, list) or not entries:
        return {"errMsg": "addCard:fail invalid cardList"}, 400
    with run.state.lock:
        tickets = [t for t, v in run.state.js_tickets.items() if v["type"] == "wx_card" and v["expires_at"] > run.now()]
        checked = []
        for entry in entries:
            card = run.state.cards.get(str((entry or {}).get("cardId") or ""))
            if card is None:
                return {"errMsg": "addCard:fail invalid card id", "errcode": 40073}, 409
            try:
                ext = json.loads((entry or {}).get("cardExt") or "")
            except (TypeError, ValueError):
                ext = None
            problem = _ext_problem(run, card, ext, openid, tickets)
            if problem:
                return {"errMsg": f"addCard:fail {problem}", "errcode": 40080, "rule": "card.add_ext"}, 409
            checked.append((card, ext))
        got = []
        for card, ext in checked:
            result = _receive(run, card, openid, str(ext.get("code") or ""), str(ext.get("outer_str") or ""),
                              _beijing_seconds(ext.get("fixed_begintimestamp")))
            if isinstance(result, tuple):
                return {"errMsg": f"addCard:fail {result[0]['error']}", "errcode": result[0].get("errcode"),
                        "rule": result[0].get("rule")}, 409
            run.state.card_nonces.add(ext["nonce_str"])
            got.append((card, result))
    pushed = []
    for card, result in got:
        fields = run.pusher().event_xml(openid, "user_get_card", CardId=card["card_id"], UserCardCode=result["code"],
                                        **result["extra"])
        pushed.append(run.push(fields, card_id=card["card_id"], code=result["code"]))
    return {"errMsg": "addCard:ok", "cardList": [{"cardId": c["card_id"], "code": r["code"], "isSuccess": True}
                                                 for c, r in got], "pushed": pushed}, 200


def _beijing_seconds(value) -> float | None:
    """fixed_begintimestamp is a Unix time (WeChat calls it UTC+8 seconds; it is the same instant)."""
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _ext_problem(run: Runtime, card: dict, ext, openid: str, tickets: list[str]) -> str:
    """Why WeChat's client refuses this cardExt ("" when it does not)."""
    if not isinstance(ext, dict) or not ext.get("signature") or not ext.get("timestamp"):
        return "invalid cardext: signature and timestamp are required"
    nonce = str(ext.get("nonce_str") or "")
    if len(nonce) > 32:
        return "invalid cardext: nonce_str is longer than 32"
    if nonce and nonce in run.state.card_nonces:
        return "invalid cardext: nonce_str already used"
    code, bound = str(ext.get("code") or ""), str(ext.get("openid") or "")
    if card["use_custom_code"] and not code:
        return "invalid cardext: a custom-code card needs code"
    if not card["use_custom_code"] and code:
        return "invalid cardext: code is only for custom-code cards"
    if card["bind_openid"] and not bound:
        return "invalid cardext: a bind_openid card needs openid"
    if bound and bound != openid:
        return "invalid cardext: this card is for another user"
    values = [str(ext["timestamp"]), card["card_id"], code, bound, nonce]
    for ticket in tickets:
        if hashlib.sha1("".join(sorted(values + [ticket])).encode()).hexdigest() == ext["signature"]:
            return ""
    return "invalid signature"


def push_card_event(run: Runtime, event: str, data: dict) -> tuple[dict, int]:
    """A user acts on a card; the stand-in updates the code and pushes WeChat's event."""
    openid = data.get("openid") or "o-standin-user"
    card = run.state.cards.get(data.get("card_id", ""))
    if card is None:
        return {"error": f"no card {data.get('card_id')!r}; create it with /card/create"}, 404
    extra: dict = {}
    with run.state.lock:
        if event == "user_get_card":
            refused = _receive(run, card, openid, str(data.get("code") or ""), str(data.get("outer_str") or ""), None)
            if isinstance(refused, tuple):
                return refused
            code, extra = refused["code"], refused["extra"]
        else:
            code = str(data.get("code") or "")
            row = run.state.codes.get(code)
            if row is None or row["card_id"] != card["card_id"] or row["openid"] != openid:
                return {"error": f"{openid} holds no code {code!r} of this card"}, 404
            if row["status"] != "NORMAL":
                return {"error": f"code {code} is {row['status'].lower()}"}, 409
            if event == "user_del_card":
                row["status"] = "DELETED"
            elif event == "user_view_card":
                extra = {"OuterStr": data.get("outer_str", "")}
            elif event == "user_consume_card":
                if card["card_type"] == "MEMBER_CARD":
                    return {"error": "a member card is not consumed"}, 409
                row["status"] = "CONSUMED"
                extra = {"ConsumeSource": "FROM_MOBILE_HELPER", "LocationName": "", "StaffOpenId": "",
                         "VerifyCode": "", "RemarkAmount": "", "OuterStr": ""}
            elif event == "submit_membercard_user_info":
                if card["card_type"] != "MEMBER_CARD" or not card["activate_form"]:
                    return {"error": "the card has no activation form (activateuserform/set)"}, 409
                ticket = secrets.token_urlsafe(24)
                info = data.get("info") or {}
                run.state.activate_tickets[ticket] = {"code": code, "card_id": card["card_id"], "openid": openid,
                                                      "info": {"common_field_list": [
                                                          {"name": k, "value": v} for k, v in info.items()
                                                          if k in FORM_FIELDS],
                                                          "custom_field_list": [
                                                          {"name": k, "value": v} for k, v in info.items()
                                                          if k not in FORM_FIELDS]}}
                extra = {}
                data = {**data, "activate_ticket": ticket}
    fields = run.pusher().event_xml(openid, event, CardId=card["card_id"], UserCardCode=code, **extra)
    entry = run.push(fields, card_id=card["card_id"], code=code)
    if data.get("activate_ticket"):
        entry = {**entry, "activate_ticket": data["activate_ticket"]}
    return entry, 200


@bp.post("/standin/add-card")
def add_card_view():
    """Play a user tapping "add" on ``wx.addCard``: {"openid", "cardList": [{"cardId", "cardExt"}]}."""
    data = request.get_json(force=True, silent=True) or {}
    entry, status = add_card(rt(), str(data.get("openid") or "o-standin-user"), data.get("cardList"))
    return jsonify(entry), status


ADD_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>添加到卡包</title>
<style>body{font-family:sans-serif;margin:0;background:#ededed;text-align:center}
.box{background:#fff;margin:60px 16px;padding:24px;border-radius:8px}.card{margin:12px 0;font-size:18px}
button{display:block;width:100%;padding:12px;margin-top:12px;border:0;border-radius:6px;font-size:17px}
.add{background:#07c160;color:#fff}.err{color:#fa5151}</style></head><body><div class="box">
<div>微信卡包（本地模拟）</div>__CARDS__<div class="err" id="err"></div>
<button class="add" id="add" data-testid="standin-add-card-ok">添加到卡包</button>
<button id="cancel">取消</button></div>
<script>
var list = __CARD_LIST__, openid = __OPENID__;
function answer(msg, cards) { parent.postMessage({err_msg: msg, card_list: cards}, '*'); }
document.getElementById('add').onclick = function () {
  this.disabled = true;
  fetch('/standin/add-card', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({openid: openid, cardList: list.map(function (c) {
      return {cardId: c.card_id, cardExt: c.card_ext}; })})})
    .then(function (r) { return r.json(); })
    .then(function (j) {
      if (j.errMsg !== 'addCard:ok') { document.getElementById('err').textContent = j.errMsg;
        setTimeout(function () { answer('batchAddCard:fail ' + j.errMsg.replace('addCard:fail ', '')); }, 1500); return; }
      answer('batchAddCard:ok', JSON.stringify(list.map(function (c, i) {
        return {card_id: c.card_id, card_ext: c.card_ext, is_succ: 1, code: j.cardList[i].code}; })));
    });
};
document.getElementById('cancel').onclick = function () { answer('batchAddCard:cancel'); };
</script></body></html>"""


@bp.get("/standin/card/add")
def add_card_page():
    """WeChat's "add to card wallet" sheet that ``wx.addCard`` opens (framed by the stand-in's
    WeixinJSBridge): the user is the one the OAuth page plays (``/standin/oauth-user``)."""
    from html import escape
    try:
        params = json.loads(request.args.get("params") or "{}")
    except ValueError:
        params = {}
    entries = [e for e in (params.get("card_list") or []) if isinstance(e, dict)]
    run = rt()
    titles = [escape(str(run.state.cards.get(str(e.get("card_id")), {}).get("title", "?"))) for e in entries]
    return (ADD_PAGE.replace("__CARDS__", "".join(f'<div class="card">{t}</div>' for t in titles))
            .replace("__CARD_LIST__", json.dumps(entries).replace("</", "<\\/"))
            .replace("__OPENID__", json.dumps(run.state.oauth_openid or "")))


@bp.post("/standin/cards/review")
def review_view():
    """WeChat's reviewers: {"card_id", "pass": true|false, "reason"}; pushes the result."""
    data = request.get_json(force=True, silent=True) or {}
    entry, status = review(rt(), str(data.get("card_id") or ""), bool(data.get("pass", True)),
                           str(data.get("reason") or ""))
    return jsonify(entry), status


@bp.post("/standin/cards/review-mode")
def review_mode():
    """{"manual": true}: new cards wait in review until /standin/cards/review decides (until reset)."""
    data = request.get_json(force=True, silent=True) or {}
    run = rt()
    with run.state.lock:
        run.state.card_review_manual = bool(data.get("manual", True))
    return jsonify({"manual": run.state.card_review_manual})


@bp.get("/standin/cards")
def cards_json():
    state = rt().state
    return jsonify({"cards": list(state.cards.values()), "codes": list(state.codes.values()),
                    "whitelist": sorted(state.card_whitelist)})
