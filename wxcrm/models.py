"""Imports every package's models so metadata (and Alembic) sees all tables."""
from wxcrm.members import models as members_models  # noqa: F401
from wxcrm.ledger import models as ledger_models  # noqa: F401
from wxcrm.checkout import models as checkout_models  # noqa: F401
from wxcrm import idempotency  # noqa: F401
