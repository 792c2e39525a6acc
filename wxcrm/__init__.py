"""wxcrm: membership, loyalty and marketing behind a WeChat service account."""
from __future__ import annotations

import logging
import os

from flask import Flask

__version__ = "0.1.0"


def create_app(config: dict | None = None) -> Flask:
    """Build an app. ``config`` overrides the WXCRM_* environment (see wxcrm/config.py)."""
    from wxcrm.config import load_config

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    instance = os.environ.get("WXCRM_INSTANCE_PATH") or os.path.join(root, "instance")
    app = Flask(__name__, instance_path=instance, template_folder=os.path.join(root, "templates"),
                static_folder=os.path.join(root, "static"))
    app.config.from_mapping(load_config(app.instance_path, config))
    logging.basicConfig(level=app.config["WXCRM_LOG_LEVEL"])

    _init_extensions(app)
    _register_blueprints(app)

    from wxcrm import cli
    from wxcrm.config import settings_for
    cli.init_app(app)
    settings_for(app)  # built once from the config, checked now rather than on first use
    return app


def _init_extensions(app: Flask) -> None:
    from wxcrm import models  # noqa: F401  (every table registered before Alembic/metadata use)
    from wxcrm.extensions import babel, csrf, db, login, migrate
    from wxcrm.web.i18n import compile_catalogs, select_locale

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"),
                     render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    compile_catalogs(app.config["BABEL_TRANSLATION_DIRECTORIES"])
    babel.init_app(app, locale_selector=select_locale)
    login.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from wxcrm.api import init_api
    from wxcrm.jobs import scheduler
    from wxcrm.web import init_web
    from wxcrm.wechat import faces as wechat

    init_api(app)
    init_web(app)
    wechat.init_app(app)      # callback, OAuth, JS-SDK
    scheduler.init_app(app)   # jobs: only when WXCRM_SCHEDULER_ENABLED, one leader at a time
