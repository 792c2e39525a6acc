"""WeChat, in two halves and a stand-in.

- ``faces``: the front doors WeChat and customers' phones knock on (the callback and its
  event handlers, OAuth, the JS-SDK endpoint); they sit with ``web`` and ``api`` and
  nothing imports them but ``create_app``.
- ``adapter``: how wxcrm talks to WeChat (client factory and shared token store, Pay, the
  menu, JS-SDK signing, the hostile-XML guard); ``messages`` and the flows call it.
- ``standin``: a local fake WeChat for the demo and the tests.
"""
