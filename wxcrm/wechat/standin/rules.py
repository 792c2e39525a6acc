"""Every rule the stand-in enforces, with WeChat's own code and words and the document it
comes from. Handlers refuse by rule id (``refuse("mass.openid_count")``), so the page at
``/standin/`` and the behaviour cannot drift apart.

``code`` is WeChat's ``errcode`` for the API, ``err_code`` (or ``return_msg``) for Pay,
the gateway's ``code`` for SMS; ``None`` marks a behaviour rather than a refusal.
``note`` says where WeChat documents the limit but not the code, and the stand-in chose.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Doc:
    title: str
    url: str


@dataclass(frozen=True)
class Rule:
    id: str
    area: str
    text: str
    code: int | str | None
    message: str
    doc: Doc
    kind: str = "api"      # api | pay-return | pay-result | sms | page | behaviour
    note: str = ""


class Refusal(Exception):
    """WeChat says no: carries the rule and the message with its details filled in."""

    def __init__(self, rule: Rule, **detail):
        self.rule = rule
        self.message = rule.message.format(**detail) if detail else rule.message
        super().__init__(f"{rule.code} {self.message}")


D = Doc
ACCESS_TOKEN = D("获取 Access token", "https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html")
CALL_LIMITS = D("接口调用频率限制说明", "https://developers.weixin.qq.com/doc/service/Message_Management/API_Call_Limits.html")
RETURN_CODES = D("全局返回码说明", "https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html")
MASS_SEND = D("根据OpenID群发消息 (massSend)", "https://developers.weixin.qq.com/doc/service/api/notify/message/api_masssend.html")
BATCH_SENDS = D("群发接口和原创校验 / 事件推送群发结果",
                "https://developers.weixin.qq.com/doc/service/guide/product/message/Batch_Sends.html")
CUSTOM = D("客服消息介绍 (客服消息下发规则)",
           "https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Customer_Service_Messages.html")
TEMPLATE_SEND = D("发送模板消息 (sendTemplateMessage)",
                  "https://developers.weixin.qq.com/doc/service/api/notify/template/api_sendtemplatemessage.html")
TEMPLATE_RULES = D("模板消息接口: 类目模板消息参数值内容限制说明 / 事件推送",
                   "https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html")
QRCODE = D("生成带参数的二维码 (createQRCode)",
           "https://developers.weixin.qq.com/doc/service/api/qrcode/qrcodes/api_createqrcode.html")
MENU = D("创建自定义菜单", "https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Creating_Custom-Defined_Menu.html")
USER_INFO = D("获取用户基本信息 (UnionID机制)",
              "https://developers.weixin.qq.com/doc/offiaccount/User_Management/Get_users_basic_information_UnionID.html")
OAUTH = D("网页授权", "https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html")
JSSDK = D("JS-SDK说明 附录1: jsapi_ticket", "https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html")
PAY_SIGN = D("微信支付 v2 安全规范: 签名算法与证书使用", "https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3")
UNIFIED_ORDER = D("微信支付 v2 统一下单", "https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_1")
ORDER_QUERY = D("微信支付 v2 查询订单", "https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_2")
CLOSE_ORDER = D("微信支付 v2 关闭订单", "https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_3")
REFUND = D("微信支付 v2 申请退款", "https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4")
REFUND_QUERY = D("微信支付 v2 查询退款", "https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_5")
JSAPI_PAY = D("微信支付 v2 JSAPI 网页端调起支付 (WeixinJSBridge getBrandWCPayRequest)",
              "https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=7_7")
PAY_NOTIFY = D("微信支付 v2 支付结果通知", "https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_7")
CARD_CREATE = D("创建卡券", "https://developers.weixin.qq.com/doc/offiaccount/Cards_and_Offer/Create_a_Coupon_Voucher_or_Card.html")
MEMBER_CARD = D("会员卡: 创建、激活、更新会员信息",
                "https://developers.weixin.qq.com/doc/offiaccount/Cards_and_Offer/Membership_Cards/Create_a_membership_card.html")
CARD_CONSUME = D("核销卡券", "https://developers.weixin.qq.com/doc/offiaccount/Cards_and_Offer/Redeeming_a_coupon_voucher_or_card.html")
CARD_ERRORS = D("卡券错误码", "https://developers.weixin.qq.com/doc/offiaccount/Cards_and_Offer/Card_coupons_error_code.html")
CARD_MANAGE = D("管理卡券: 查询Code、设置卡券失效、查询卡券详情",
                "https://developers.weixin.qq.com/doc/offiaccount/Cards_and_Offer/Managing_Coupons_Vouchers_and_Cards.html")
CARD_DISTRIBUTE = D("投放卡券: 设置测试白名单; JS-SDK 添加卡券 (addCard) 与附录4 卡券扩展字段 cardExt 及签名",
                    "https://developers.weixin.qq.com/doc/offiaccount/Cards_and_Offer/Distributing_Coupons_Vouchers_and_Cards.html")
CARD_EVENTS = D("卡券事件推送",
                "https://developers.weixin.qq.com/doc/offiaccount/Cards_and_Offer/Coupons_Vouchers_and_Cards_Event_Push_Messages.html")
SMS = D("阿里云短信 SendSms 与短信发送频率限制", "https://help.aliyun.com/zh/sms/developer-reference/api-dysmsapi-2017-05-25-sendsms")

UNDOCUMENTED = "WeChat documents the limit but not the code; the stand-in's choice"

R = Rule
RULES: tuple[Rule, ...] = (
    # ---------------------------------------------------------------- every API call
    R("api.json", "API", "a POST body is a JSON object", 47001, "data format error", RETURN_CODES),
    # ---------------------------------------------------------------- access token
    R("token.grant_type", "token", "grant_type must be client_credential", 40002, "invalid grant_type", ACCESS_TOKEN),
    R("token.appid", "token", "appid must be the account's", 40013, "invalid appid", ACCESS_TOKEN),
    R("token.secret", "token", "secret must be the account's", 40125, "invalid appsecret", ACCESS_TOKEN),
    R("token.daily", "token", "at most 2,000 token fetches a day (Beijing time)", 45009,
      "reach max api daily quota limit", CALL_LIMITS),
    R("token.missing", "token", "every API call carries access_token", 41001, "access_token missing", RETURN_CODES),
    R("token.unknown", "token", "a token the stand-in never issued is refused", 40001,
      "invalid credential, access_token is invalid or not latest", ACCESS_TOKEN),
    R("token.expired", "token", "a token dies token_ttl (7200 s) after it was issued", 42001, "access_token expired",
      ACCESS_TOKEN),
    R("token.replaced", "token", "a new fetch keeps the previous token valid for 5 minutes, then it is dead", 40001,
      "invalid credential, access_token is invalid or not latest", ACCESS_TOKEN),
    # ---------------------------------------------------------------- mass send
    R("mass.openid_count", "mass send", "touser holds 2..10,000 openids", 40130,
      "invalid openid list size, at least two openid", MASS_SEND),
    R("mass.msgtype", "mass send", "msgtype is one of text, mpnews, voice, image, mpvideo, wxcard", 40008,
      "invalid message type", MASS_SEND),
    R("mass.empty", "mass send", "a text message has content", 44004, "empty content", RETURN_CODES),
    R("mass.media", "mass send", "media messages need an uploaded media_id (the stand-in has none)", 40007,
      "invalid media_id", MASS_SEND),
    R("mass.card", "mass send", "a wxcard message names a card created here", 40073, "invalid card id", MASS_SEND),
    R("mass.daily", "mass send", "at most 100 mass-send calls a day (send, sendall; preview has its own 100)", 45009,
      "reach max api daily quota limit", CALL_LIMITS),
    R("mass.clientmsgid", "mass send",
      "one clientmsgid per 24 h; without one, the digest of recipients and content is the id", 45065,
      "clientmsgid exist", MASS_SEND),
    R("mass.sendall_quota", "mass send", "sendall (is_to_all): 4 a calendar month for a service account", 45028,
      "has no masssend quota", BATCH_SENDS),
    R("mass.tag", "mass send", "sendall by tag: the stand-in keeps no tags", 40050, "invalid group id", BATCH_SENDS,
      note="tags are not modelled"),
    R("mass.preview_user", "mass send", "preview goes to one follower", 43004, "require subscribe", BATCH_SENDS),
    R("mass.user_month", "mass send",
      "a user receives at most 4 mass messages a calendar month; past that (or unfollowed) they are filtered "
      "(FilterCount), not refused", None, "", BATCH_SENDS, kind="behaviour"),
    R("mass.report", "mass send", "after each send WeChat pushes MASSSENDJOBFINISH (Status, TotalCount, FilterCount, "
      "SentCount, ErrorCount, MsgID)", None, "", BATCH_SENDS, kind="behaviour"),
    # ---------------------------------------------------------------- customer service
    R("custom.user", "customer service", "touser is an openid the account knows", 40003, "invalid openid", RETURN_CODES),
    R("custom.msgtype", "customer service", "msgtype is a customer-service type", 40008, "invalid message type",
      RETURN_CODES),
    R("custom.empty", "customer service", "a text message has content", 44004, "empty content", RETURN_CODES),
    R("custom.window", "customer service",
      "only inside a window the user opened: a message (5 within 48 h), a follow, QR scan or menu click "
      "(3 within 1 minute), a payment (48 h); an unfollowed user has none", 45015,
      "response out of time limit or subscription is canceled", CUSTOM),
    R("custom.quota", "customer service", "no more than the window's count", 45047, "out of response count limit",
      CUSTOM),
    # ---------------------------------------------------------------- template messages
    R("template.id", "template", "template_id is one of the account's templates", 40037, "invalid template_id",
      TEMPLATE_SEND),
    R("template.user", "template", "touser is an openid the account knows", 40003, "invalid openid", TEMPLATE_SEND),
    R("template.subscribe", "template", "the user follows the account", 43004, "require subscribe", TEMPLATE_SEND),
    R("template.value", "template",
      "every keyword is present and fits its type: thing ≤20 chars, character_string ≤32 letters/digits/symbols, "
      "number ≤32 digits (decimal allowed, no sign), amount (¥12.50 / 12.50元), time, date, phrase ≤5 Chinese "
      "characters, phone_number ≤17, car_number ≤8, name, letter, symbol, const (approved values only)", 47003,
      "argument invalid! data.{key}.value invalid", TEMPLATE_RULES),
    R("template.daily", "template", "at most 100,000 template messages a day", 45009, "reach max api daily quota limit",
      CALL_LIMITS),
    R("template.report", "template", "after each send WeChat pushes TEMPLATESENDJOBFINISH (success, "
      "failed:user block, failed: system failed)", None, "", TEMPLATE_RULES, kind="behaviour"),
    # ---------------------------------------------------------------- QR codes
    R("qr.action_name", "QR code", "action_name is QR_SCENE, QR_STR_SCENE, QR_LIMIT_SCENE or QR_LIMIT_STR_SCENE",
      40052, "invalid action name", QRCODE),
    R("qr.action_info", "QR code", "scene_id 1..100000 for a permanent code, a positive 32-bit integer for a temporary "
      "one; scene_str 1..64 characters", 40053, "invalid action info, please check document", QRCODE),
    R("qr.expire", "QR code", "a temporary code lives 1..2,592,000 s (60 s when expire_seconds is absent)", 40053,
      "invalid action info, please check document", QRCODE, note=UNDOCUMENTED),
    R("qr.limit", "QR code", "at most 100,000 permanent codes (the same scene gives the same ticket)", 45009,
      "reach max api daily quota limit", QRCODE, note=UNDOCUMENTED),
    R("qr.show", "QR code", "showqrcode answers 404 for an unknown or expired ticket", 404, "", QRCODE, kind="page"),
    # ---------------------------------------------------------------- menu
    R("menu.button_size", "menu", "1..3 top-level buttons", 40016, "invalid button size", MENU),
    R("menu.button_type", "menu", "a button without sub_button has a known type", 40017, "invalid button type", MENU),
    R("menu.button_name", "menu", "a top-level name is 1..16 bytes", 40018, "invalid button name size", MENU),
    R("menu.button_key", "menu", "a click (or scan/photo/location) button has a key of 1..128 bytes", 40019,
      "invalid button key size", MENU),
    R("menu.button_url", "menu", "a view button has a url of 1..1024 bytes", 40020, "invalid button url size", MENU),
    R("menu.button_domain", "menu", "a view url is http(s)", 40055, "invalid button url domain", MENU),
    R("menu.sub_size", "menu", "a sub_button list holds 1..5 buttons", 40023, "invalid sub button size", MENU),
    R("menu.sub_type", "menu", "a sub-button has a known type", 40024, "invalid sub button type", MENU),
    R("menu.sub_name", "menu", "a sub-button name is 1..60 bytes", 40025, "invalid sub button name size", MENU),
    R("menu.sub_key", "menu", "a sub click button has a key of 1..128 bytes", 40026, "invalid sub button key size",
      MENU),
    R("menu.sub_url", "menu", "a sub view button has a url of 1..1024 bytes", 40027, "invalid sub button url size",
      MENU),
    R("menu.sub_domain", "menu", "a sub view url is http(s)", 40054, "invalid sub button url domain", MENU),
    R("menu.level", "menu", "menus are two levels deep", 40022, "invalid sub menu level", RETURN_CODES),
    R("menu.media", "menu", "media_id / article_id buttons need uploaded material (the stand-in has none)", 40007,
      "invalid media_id", MENU),
    R("menu.none", "menu", "menu/get when no menu was created", 46003, "menu no exist", RETURN_CODES),
    R("menu.daily", "menu", "at most 1,000 menu creations a day", 45009, "reach max api daily quota limit", CALL_LIMITS),
    # ---------------------------------------------------------------- users
    R("user.missing", "user info", "openid is given", 41009, "missing openid", RETURN_CODES),
    R("user.openid", "user info", "an openid the account has never seen is invalid", 40003, "invalid openid",
      USER_INFO),
    R("user.fields", "user info", "since 2021-12-27 no nickname, headimgurl, sex, city, province or country; a "
      "non-follower gets subscribe 0 and nothing else", None, "", USER_INFO, kind="behaviour"),
    # ---------------------------------------------------------------- OAuth
    R("oauth.appid", "OAuth", "the authorize page is for the account's appid", 40013, "invalid appid", OAUTH,
      kind="page"),
    R("oauth.redirect", "OAuth", "redirect_uri is given", 10011, "redirect_uri不能为空", OAUTH, kind="page"),
    R("oauth.domain", "OAuth", "redirect_uri's host is the account's web-authorization domain (wxcrm's public host)",
      10003, "redirect_uri域名与后台配置不一致", OAUTH, kind="page"),
    R("oauth.scope", "OAuth", "scope is snsapi_base or snsapi_userinfo", 10005, "此公众号并没有这些scope的权限", OAUTH,
      kind="page"),
    R("oauth.response_type", "OAuth", "response_type is code", 10010, "response_type参数错误", OAUTH, kind="page"),
    R("oauth.grant_type", "OAuth", "grant_type is authorization_code (refresh_token to refresh)", 40002,
      "invalid grant_type", OAUTH),
    R("oauth.code", "OAuth", "a code is valid for 5 minutes", 40029, "invalid code", OAUTH),
    R("oauth.code_used", "OAuth", "a code works once", 40163, "code been used", OAUTH),
    R("oauth.refresh", "OAuth", "a refresh_token is valid for 30 days", 40030, "invalid refresh_token", OAUTH),
    R("oauth.token", "OAuth", "sns/userinfo needs a web access_token the stand-in issued", 40001,
      "invalid credential, access_token is invalid or not latest", OAUTH),
    R("oauth.token_expired", "OAuth", "a web access_token lives 7200 s", 42001, "access_token expired", OAUTH),
    R("oauth.scope_userinfo", "OAuth", "sns/userinfo needs a snsapi_userinfo token", 48001, "api unauthorized", OAUTH),
    R("oauth.openid", "OAuth", "sns/userinfo's openid is the token's", 40003, "invalid openid", OAUTH),
    # ---------------------------------------------------------------- JS-SDK
    R("ticket.type", "JS-SDK", "type is jsapi or wx_card; a ticket lives 7200 s", 40097, "invalid args", JSSDK,
      note=UNDOCUMENTED),
    # ---------------------------------------------------------------- Pay
    R("pay.xml", "pay", "the body is the XML of a request", "XML_FORMAT_ERROR", "XML格式错误", PAY_SIGN,
      kind="pay-return"),
    R("pay.mch_id", "pay", "mch_id is the merchant's", "MCHID_NOT_EXIST", "mch_id参数格式错误或不存在", UNIFIED_ORDER,
      kind="pay-return"),
    R("pay.sign", "pay", "sign verifies with the API key, MD5 or HMAC-SHA256 as sign_type says", "SIGNERROR",
      "签名错误", PAY_SIGN, kind="pay-return"),
    R("pay.appid_exist", "pay", "appid is a WeChat appid", "APPID_NOT_EXIST", "appid不存在", UNIFIED_ORDER,
      kind="pay-return"),
    R("pay.appid_match", "pay", "appid is bound to the merchant", "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配",
      UNIFIED_ORDER, kind="pay-return"),
    R("pay.lack", "pay", "every required parameter is present", "LACK_PARAMS", "缺少参数{name}", UNIFIED_ORDER,
      kind="pay-result"),
    R("pay.param", "pay", "parameters fit the document: out_trade_no 6..32 of [0-9A-Za-z_-|*], total_fee a positive "
      "integer (fen), body ≤127, a valid client IP, notify_url http(s) without a query, known trade_type",
      "PARAM_ERROR", "{detail}", UNIFIED_ORDER, kind="pay-result"),
    R("pay.openid", "pay", "trade_type JSAPI requires openid", "PARAM_ERROR", "JSAPI支付必须传openid", UNIFIED_ORDER,
      kind="pay-result"),
    R("pay.openid_appid", "pay", "the openid belongs to the appid (one the account has seen)", "PARAM_ERROR",
      "appid和openid不匹配", UNIFIED_ORDER, kind="pay-result"),
    R("pay.time_expire", "pay", "time_expire leaves at least 5 minutes", "INVALID_REQUEST",
      "time_expire时间过短，刷卡至少1分钟，其他5分钟", UNIFIED_ORDER, kind="pay-return"),
    R("pay.reused", "pay", "an out_trade_no re-sent with different parameters", "OUT_TRADE_NO_USED", "商户订单号重复",
      UNIFIED_ORDER, kind="pay-result"),
    R("pay.paid", "pay", "a paid order cannot be ordered or closed again", "ORDERPAID", "该订单已支付", UNIFIED_ORDER,
      kind="pay-result"),
    R("pay.closed", "pay", "a closed (or expired) order cannot be ordered or closed again", "ORDERCLOSED", "订单已关闭",
      CLOSE_ORDER, kind="pay-result"),
    R("pay.no_order", "pay", "the order exists (and, for a refund, is paid)", "ORDERNOTEXIST", "订单不存在",
      ORDER_QUERY, kind="pay-result"),
    R("pay.cert_missing", "pay", "refunds need the merchant's API client certificate over TLS", "CERT_ERROR",
      "证书校验错误", REFUND, kind="pay-result"),
    R("pay.cert_other", "pay", "the client certificate is the merchant's (CN = mch_id)", "CERT_ERROR",
      "certificate not match", REFUND, kind="pay-return"),
    R("pay.refund_total", "pay", "total_fee is the order's amount", "PARAM_ERROR", "订单金额total_fee与原订单不一致",
      REFUND, kind="pay-result"),
    R("pay.refund_fee", "pay", "refund_fee is a positive integer no larger than total_fee", "PARAM_ERROR",
      "退款金额refund_fee不合法", REFUND, kind="pay-result"),
    R("pay.refund_over", "pay", "refunds add up to no more than the order", "ERROR", "累计退款金额大于支付金额", REFUND,
      kind="pay-result"),
    R("pay.refund_mismatch", "pay", "an out_refund_no re-sent must carry the same amounts (it refunds once)",
      "REFUND_FEE_MISMATCH", "订单金额或退款金额与之前请求不一致，请核实后再试", REFUND, kind="pay-result"),
    R("pay.refund_count", "pay", "at most 50 partial refunds an order", "ERROR", "部分退款次数不能超过50次", REFUND,
      kind="pay-result"),
    R("pay.refund_interval", "pay", "refunds of one order are at least 1 minute apart", "FREQUENCY_LIMITED",
      "同一笔订单多次退款的请求需相隔1分钟", REFUND, kind="pay-result"),
    R("pay.refund_none", "pay", "refundquery finds a refund", "REFUNDNOTEXIST", "退款订单查询失败", REFUND_QUERY,
      kind="pay-result"),
    R("pay.response_sign", "pay", "answers are signed with the request's sign_type", None, "", PAY_SIGN,
      kind="behaviour"),
    R("pay.notify", "pay", "a paid order is notified to notify_url until it answers return_code SUCCESS, retrying "
      "after 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h (divided by notify_speedup)", None, "", PAY_NOTIFY,
      kind="behaviour"),
    R("pay.jsapi_sign", "pay", "getBrandWCPayRequest's paySign verifies with the API key over appId, timeStamp, "
      "nonceStr, package and signType", None, "get_brand_wcpay_request:fail 支付验证签名失败", JSAPI_PAY, kind="page"),
    R("pay.jsapi_appid", "pay", "getBrandWCPayRequest's appId is the account's (the one the page is opened in)", None,
      "get_brand_wcpay_request:fail 调用支付JSAPI缺少参数 appId", JSAPI_PAY, kind="page"),
    R("pay.jsapi_package", "pay", "package is prepay_id=<a JSAPI order's prepay_id>, not paid, closed or expired",
      None, "get_brand_wcpay_request:fail 订单已失效或不存在", JSAPI_PAY, kind="page"),
    # ---------------------------------------------------------------- cards
    R("card.type", "card", "card_type is MEMBER_CARD, GENERAL_COUPON, CASH, DISCOUNT, GIFT or GROUPON (and a code "
      "of a member card cannot be consumed)", 40071, "invalid card type", CARD_ERRORS),
    R("card.required", "card", "required fields are present (base_info logo_url, code_type, brand_name, title, color, "
      "notice, description, sku.quantity, date_info; member card prerogative, supply_bonus, supply_balance; "
      "coupon detail fields)", 41011, "missing required fields: {field}", CARD_CREATE),
    R("card.length", "card", "brand_name ≤12, title ≤9, notice ≤16, description ≤1024 characters", 45021,
      "field too long: {field}", CARD_CREATE),
    R("card.code_type", "card", "code_type is a CODE_TYPE_* value", 40072, "invalid encode type", CARD_CREATE),
    R("card.color", "card", "color is one of Color010..Color102", 47001, "data format error: color", CARD_CREATE,
      note=UNDOCUMENTED),
    R("card.value", "card", "amounts, discounts, URLs and form fields have the documented form", 47001,
      "data format error: {field}", CARD_CREATE, note=UNDOCUMENTED),
    R("card.quantity", "card", "sku.quantity is 0..100,000,000", 40122, "invalid quantity", CARD_ERRORS),
    R("card.date", "card", "date_info: a fixed range ends after it begins and after now; a fixed term is positive; "
      "permanent only for member cards", 40100, "invalid date info", CARD_ERRORS),
    R("card.balance", "card", "stored value on a member card needs the account's balance permission", 43010,
      "no permission to use balance", CARD_ERRORS),
    R("card.custom_field", "card", "a member card's custom_field1..3 has a name_type FIELD_NAME_TYPE_* (LEVEL, COUPON, "
      "STAMP, DISCOUNT, ACHIEVEMEN, MILEAGE, SET_POINTS, TIMS) or a name, and an http(s) url if any", 47001,
      "data format error: {field}", MEMBER_CARD, note=UNDOCUMENTED),
    R("card.field_value", "card", "custom_field_value1..3 (and init_custom_field_value1..3 at activation) are at most "
      "4 Chinese characters, 12 bytes, and only for a field the card was created with", 45021,
      "field too long or not on the card: {field}", MEMBER_CARD, note=UNDOCUMENTED),
    R("card.id", "card", "card_id is a card created here", 40073, "invalid card id", CARD_ERRORS),
    R("card.id_missing", "card", "card_id is given where the API needs it", 41012, "missing card_id", CARD_ERRORS),
    R("card.code", "card", "code is a code a user received for that card", 40056, "invalid serial code", CARD_ERRORS),
    R("card.code_taken", "card", "card/code/update: new_code is not a code already in use", 40056,
      "invalid serial code", CARD_ERRORS, note=UNDOCUMENTED),
    R("card.consumed", "card", "a consumed code cannot be consumed or checked again", 40099,
      "invalid code, this code has consumed.", CARD_CONSUME),
    R("card.deleted", "card", "a code the user deleted (or a card the merchant deleted) is gone", 40127,
      "invalid user-card status", CARD_ERRORS),
    R("card.status", "card", "member info is updated only on an activated card, and a card is activated once", 40078,
      "invalid card status", MEMBER_CARD),
    R("card.ticket", "card", "activate_ticket is one the user's form submission produced", 40097, "invalid args",
      MEMBER_CARD, note=UNDOCUMENTED),
    R("card.code_status", "card", "a code made unavailable (card/code/unavailable) or past its validity cannot be "
      "consumed or made unavailable again", 40078, "invalid card status", CARD_ERRORS, note=UNDOCUMENTED),
    R("card.reason", "card", "card/code/unavailable's reason is at most 30 characters", 45021,
      "field too long: reason", CARD_MANAGE, note=UNDOCUMENTED),
    R("card.get_limit", "card", "base_info.get_limit is 1..the stock, and a user receives a card at most get_limit "
      "times", 45033, "user get card num exceed get_limit", CARD_ERRORS),
    R("card.stock", "card", "a user receives a card only while its sku.quantity is above 0", 45031,
      "stock is zero", CARD_ERRORS),
    R("card.review", "card", "a new card is reviewed before users may receive it (CARD_STATUS_NOT_VERIFY); only "
      "openids on the test whitelist receive it before it passes; the result is pushed as card_pass_check or "
      "card_not_pass_check (RefuseReason)", None, "", CARD_DISTRIBUTE, kind="behaviour"),
    R("card.whitelist", "card", "testwhitelist/set takes at most 10 openids or usernames", 40097, "invalid args",
      CARD_DISTRIBUTE, note=UNDOCUMENTED),
    R("card.add_ext", "card", "wx.addCard's cardExt is JSON with a string timestamp and signature; the signature is "
      "SHA-1 of the sorted values of api_ticket (type wx_card), timestamp, card_id, code, openid, nonce_str; a nonce "
      "is used once; a custom-code card needs code; a bind_openid card needs the user's openid", 40080,
      "invalid cardext", CARD_DISTRIBUTE, kind="page"),
    R("card.add_custom_code", "card", "a custom code is received once (a second addCard with it fails)", 40056,
      "invalid serial code", CARD_DISTRIBUTE, kind="page", note=UNDOCUMENTED),
    R("card.events", "card", "user_get_card, user_del_card, user_view_card, user_consume_card, "
      "submit_membercard_user_info, update_member_card, card_pass_check, card_not_pass_check are pushed as WeChat "
      "does", None, "", CARD_EVENTS, kind="behaviour"),
    # ---------------------------------------------------------------- SMS (the project's own gateway)
    R("sms.phone", "SMS", "phone is a mainland mobile number", "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号", SMS,
      kind="sms"),
    R("sms.sign", "SMS", "sign is an approved signature (the brand)", "isv.SMS_SIGNATURE_ILLEGAL", "短信签名不合法",
      SMS, kind="sms"),
    R("sms.template", "SMS", "template_id is an approved template", "isv.SMS_TEMPLATE_ILLEGAL", "短信模板不合法", SMS,
      kind="sms"),
    R("sms.missing", "SMS", "every ${name} of the template has a value", "isv.TEMPLATE_MISSING_PARAMETERS",
      "模板缺少变量{name}", SMS, kind="sms"),
    R("sms.params", "SMS", "values are ≤35 characters without links; a code is 4..8 letters or digits",
      "isv.TEMPLATE_PARAMS_ILLEGAL", "模板变量不合法: {name}", SMS, kind="sms"),
    R("sms.rate", "SMS", "a verification code to one phone: 1 a minute, 5 an hour, 10 a day",
      "isv.BUSINESS_LIMIT_CONTROL", "触发{window}级流控", SMS, kind="sms"),
)

RULE_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}


def refuse(rule_id: str, **detail) -> Refusal:
    """The exception for a rule; raise it: ``raise refuse("menu.button_size")``."""
    return Refusal(RULE_BY_ID[rule_id], **detail)
