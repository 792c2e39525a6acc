"""A strict local stand-in for WeChat's servers (API, OAuth, Pay v2, cards) and the
project's SMS gateway, used by the demo and the tests.

    flask --app wsgi wxcrm wechat-standin      # then WXCRM_WECHAT_API_BASE=http://127.0.0.1:5001

It refuses what WeChat refuses, with WeChat's errcode and errmsg (``rules.py`` lists each
rule and the document it comes from; ``/standin/`` shows them), records every call,
pushes signed (and, in safe mode, encrypted) callbacks into wxcrm the way WeChat does,
and has controls under ``/standin/`` to play users, move its clock and read what happened.
"""
from wxcrm.wechat.standin.app import create_standin_app  # noqa: F401
from wxcrm.wechat.standin.config import StandinConfig  # noqa: F401
from wxcrm.wechat.standin.push import WeChatPusher  # noqa: F401
