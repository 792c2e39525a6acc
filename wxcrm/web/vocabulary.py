"""Words stored as codes and shown translated (``_(member.status)`` in templates).

Listed here so `pybabel extract` finds them.
"""
from wxcrm.errors import N_

VOCABULARY = (
    N_("admin"), N_("marketer"), N_("cashier"), N_("manager"),
    N_("active"), N_("expired"), N_("cancelled"), N_("closed"),
    N_("direct"), N_("franchise"),
    N_("male"), N_("female"), N_("unknown"),
    N_("purchase"), N_("refund"),
    N_("cash"), N_("card"), N_("wechat_pay"), N_("alipay"), N_("stored_value"), N_("other"),
    N_("pending"), N_("sending"), N_("sent"), N_("parked"),
)
