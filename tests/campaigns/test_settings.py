"""Marketing settings: quiet hours are checked, and production refuses none at all."""
from __future__ import annotations

from datetime import datetime

import pytest

from wxcrm.config import load_config, unsafe_settings
from wxcrm.messages import quiet


def problems(**env) -> list[str]:
    cfg = load_config("/tmp/wxcrm-settings-test", {k: v for k, v in env.items()})
    return [p.setting for p in unsafe_settings(cfg)]


def test_production_refuses_no_quiet_hours_or_a_bad_value():
    assert "WXCRM_QUIET_HOURS" not in problems(QUIET_HOURS="21:00-08:00")
    assert "WXCRM_QUIET_HOURS" in problems(QUIET_HOURS="")
    assert "WXCRM_QUIET_HOURS" in problems(QUIET_HOURS="25:00-08:00")


def test_a_bad_value_stops_the_settings_object(settings):
    with pytest.raises(ValueError):
        settings.replace(quiet_hours="late")


def test_quiet_hours_wrap_midnight_in_the_shop_time_zone(settings):
    s = settings.replace(quiet_hours="21:00-08:00")
    assert quiet.in_quiet_hours(s, datetime(2026, 6, 10, 13, 30))        # 21:30 Shanghai
    assert quiet.in_quiet_hours(s, datetime(2026, 6, 9, 23, 59))         # 07:59
    assert not quiet.in_quiet_hours(s, datetime(2026, 6, 10, 0, 0))      # 08:00
    assert quiet.next_marketing_moment(s, datetime(2026, 6, 10, 13, 30)) == datetime(2026, 6, 11, 0, 0)
    assert not quiet.in_quiet_hours(settings.replace(quiet_hours=""), datetime(2026, 6, 10, 13, 30))
