"""The card API (member cards and coupons) and the card events a user's actions push.

Cards are created with WeChat's required fields and limits; a code exists once a user
received the card (``/standin/push`` with ``user_get_card``), and then can be activated,
updated, checked and consumed as WeChat allows.
"""
from __future__ import annotations

import secrets
from urllib.parse import urlparse

from flask import Blueprint, jsonify

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
        run.state.cards[card_id] = {
            "card_id": card_id, "card_type": card_type, "title": base["title"], "base_info": base, "detail": detail,
            "use_custom_code": bool(base.get("use_custom_code")), "quantity": base["sku"]["quantity"],
            "supply_bonus": bool(detail.get("supply_bonus")), "supply_balance": bool(detail.get("supply_balance")),
            "activate_form": None, "created_at": run.now()}
    return ok(card_id=card_id)


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
    status = {"NORMAL": "NORMAL", "CONSUMED": "CONSUMED", "DELETED": "DELETE"}[row["status"]]
    return ok(card={"card_id": card["card_id"], "code": row["code"], "begin_time": int(row["got_at"]),
                    "end_time": 0}, openid=row["openid"],
              can_consume=row["status"] == "NORMAL" and card["card_type"] != "MEMBER_CARD",
              user_card_status=status)


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

def push_card_event(run: Runtime, event: str, data: dict) -> tuple[dict, int]:
    """A user acts on a card; the stand-in updates the code and pushes WeChat's event."""
    openid = data.get("openid") or "o-standin-user"
    card = run.state.cards.get(data.get("card_id", ""))
    if card is None:
        return {"error": f"no card {data.get('card_id')!r}; create it with /card/create"}, 404
    extra: dict = {}
    with run.state.lock:
        if event == "user_get_card":
            code = str(data.get("code") or "")
            if card["use_custom_code"] and not code:
                return {"error": "this card uses custom codes: give the code"}, 400
            if card["quantity"] <= 0:
                return {"error": "the card's stock is 0 (WeChat 45031)"}, 409
            code = code or "".join(secrets.choice("0123456789") for _ in range(12))
            if code in run.state.codes:
                return {"error": f"code {code} exists"}, 409
            card["quantity"] -= 1
            run.state.see(openid)
            run.state.codes[code] = {"code": code, "card_id": card["card_id"], "openid": openid, "status": "NORMAL",
                                     "activated": False, "membership_number": "", "bonus": 0, "balance": 0,
                                     "got_at": run.now()}
            extra = {"IsGiveByFriend": "0", "FriendUserName": "", "OuterId": "0", "OldUserCardCode": "",
                     "OuterStr": data.get("outer_str", ""), "IsRestoreMemberCard": "0", "UnionId": "union-" + openid}
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


@bp.get("/standin/cards")
def cards_json():
    state = rt().state
    return jsonify({"cards": list(state.cards.values()), "codes": list(state.codes.values())})
