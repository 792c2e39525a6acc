"""A local stand-in for WeChat's servers (API, OAuth, Pay) used by the demo and the tests.

    flask --app wsgi wxcrm wechat-standin      # then WXCRM_WECHAT_API_BASE=http://127.0.0.1:5001

It answers what wxcrm calls, records every call (``/standin/`` and ``/standin/calls.json``),
fails the next N calls on request, and pushes signed (and, in safe mode, encrypted)
callbacks into wxcrm the way WeChat does.
"""
from wxcrm.wechat.standin.app import StandinConfig, create_standin_app  # noqa: F401
from wxcrm.wechat.standin.push import WeChatPusher  # noqa: F401
