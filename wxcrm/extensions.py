"""Extensions: created here, bound to an app in create_app."""
from __future__ import annotations

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_talisman import Talisman
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so Alembic migrations are the same on SQLite and MariaDB.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login = LoginManager()
csrf = CSRFProtect()
babel = Babel()
api = Api()
# Counters in Redis when WXCRM_REDIS_URL is set (RATELIMIT_STORAGE_URI), else in memory.
# No default limits: the login form and member look-ups set their own.
limiter = Limiter(key_func=get_remote_address)


@limiter.request_filter
def _till_has_no_limits() -> bool:
    """The till's purchases, previews and refunds declare no limit (a bearer token and an
    Idempotency-Key guard them): skip the limiter's per-request resolution there (issue 11)."""
    from flask import request
    return request.blueprint == "api_transactions"
talisman = Talisman()
