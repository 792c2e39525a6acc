"""Imports every package's models so metadata (and Alembic) sees all tables."""
from wxcrm import idempotency  # noqa: F401
from wxcrm.analytics import models as analytics_models  # noqa: F401
from wxcrm.campaigns import models as campaigns_models  # noqa: F401
from wxcrm.cards import models as cards_models  # noqa: F401
from wxcrm.coupons import card_models as coupon_card_models  # noqa: F401
from wxcrm.coupons import models as coupons_models  # noqa: F401
from wxcrm.jobs import models as jobs_models  # noqa: F401
from wxcrm.ledger import models as ledger_models  # noqa: F401
from wxcrm.members import cache as members_cache  # noqa: F401
from wxcrm.members import models as members_models  # noqa: F401
from wxcrm.messages import models as messages_models  # noqa: F401
from wxcrm.rules import models as rules_models  # noqa: F401
from wxcrm.sales import models as sales_models  # noqa: F401
from wxcrm.topups import models as topups_models  # noqa: F401
from wxcrm.wechat.adapter import models as wechat_models  # noqa: F401
