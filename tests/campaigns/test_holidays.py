"""Holiday dates, checked against a table typed in from the Hong Kong Observatory's
Gregorian-Lunar calendar conversion tables (and, for Qingming, its solar-term tables), not
from the calendar library's own output."""
from __future__ import annotations

from datetime import date

import pytest

from wxcrm.campaigns.holidays import BY_CODE, date_in

# year: spring festival, lantern, qingming, dragon boat, qixi, mid-autumn, double ninth
PUBLISHED = {
    2024: ("02-10", "02-24", "04-04", "06-10", "08-10", "09-17", "10-11"),
    2025: ("01-29", "02-12", "04-04", "05-31", "08-29", "10-06", "10-29"),
    2026: ("02-17", "03-03", "04-05", "06-19", "08-19", "09-25", "10-18"),
    2027: ("02-06", "02-20", "04-05", "06-09", "08-08", "09-15", "10-08"),
    2028: ("01-26", "02-09", "04-04", "05-28", "08-26", "10-03", "10-26"),
    2029: ("02-13", "02-27", "04-04", "06-16", "08-16", "09-22", "10-16"),
    2030: ("02-03", "02-17", "04-05", "06-05", "08-05", "09-12", "10-05"),
}
CODES = ("spring_festival", "lantern", "qingming", "dragon_boat", "qixi", "mid_autumn", "double_ninth")


@pytest.mark.parametrize("year", sorted(PUBLISHED))
def test_lunar_holidays_and_qingming_land_on_the_published_dates(year):
    for code, month_day in zip(CODES, PUBLISHED[year]):
        month, day = map(int, month_day.split("-"))
        assert date_in(BY_CODE[code], year) == date(year, month, day), (code, year)


def test_fixed_holidays():
    assert date_in(BY_CODE["national_day"], 2027) == date(2027, 10, 1)
    assert date_in(BY_CODE["christmas"], 2028) == date(2028, 12, 25)
    assert date_in(BY_CODE["new_year"], 2029) == date(2029, 1, 1)


def test_the_api_lists_each_holiday_with_its_date(client, marketer_api):
    r = marketer_api.get("/greetings/holidays?year=2027")
    assert r.status_code == 200, r.get_json()
    found = {h["code"]: h["date"] for h in r.get_json()["holidays"]}
    assert found["spring_festival"] == "2027-02-06" and found["mid_autumn"] == "2027-09-15"
    assert marketer_api.get("/greetings/holidays?year=99").status_code == 422


def test_a_holiday_greeting_goes_on_its_day_to_members_with_consent(app, make, settings, frozen_now):
    from sqlalchemy import select

    from tests.campaigns.test_jobs import at_local, enable
    from wxcrm.extensions import db
    from wxcrm.jobs.registry import BY_ID
    from wxcrm.jobs.runner import run_due
    from wxcrm.messages.models import OutboxMessage
    enable("mid_autumn", send_time="09:30")
    yes = make.member(openid="o-h1")
    make.member(openid="o-h2", marketing_consent=False)
    frozen_now(at_local(date(2026, 9, 24), 2))
    [run] = run_due(db.session, settings, BY_ID["holidays"])
    assert run.counts["greeted"] == 0
    frozen_now(at_local(date(2026, 9, 25), 2))
    [run] = run_due(db.session, settings, BY_ID["holidays"])
    assert run.counts["greeted"] == 1 and run.counts["greetings"] == ["mid_autumn"]
    [row] = db.session.scalars(select(OutboxMessage)).all()
    assert row.member_id == yes.id and row.dedup_key == f"holiday:mid_autumn:2026:m{yes.id}"
    assert row.next_attempt_at == at_local(date(2026, 9, 25), 9).replace(minute=30)


# A second, independent source in the test: ``lunardate`` (a different author's conversion
# tables, from the Hong Kong Observatory's data) for the lunar festivals, and PyEphem's
# astronomy for Qingming (the moment the sun's apparent longitude reaches 15°, Beijing time).
# They and lunar_python agree on every year from 2000 to 2050 (before and after, the sources
# differ on a few known borderline days, e.g. Mid-Autumn 1978 and Double Ninth 2057).
LUNAR = {"spring_festival": (1, 1), "lantern": (1, 15), "dragon_boat": (5, 5), "qixi": (7, 7),
         "mid_autumn": (8, 15), "double_ninth": (9, 9)}


def _qingming_by_astronomy(year: int) -> date:
    import math
    from datetime import datetime, timedelta

    import ephem

    def longitude(moment: datetime) -> float:
        sun = ephem.Sun()
        sun.compute(ephem.Date(moment), epoch=ephem.Date(moment))
        return math.degrees(ephem.Ecliptic(sun, epoch=ephem.Date(moment)).lon)

    low, high = datetime(year, 3, 30), datetime(year, 4, 10)
    while high - low > timedelta(minutes=1):
        middle = low + (high - low) / 2
        low, high = (middle, high) if longitude(middle) < 15 else (low, middle)
    return (high + timedelta(hours=8)).date()


def test_the_calendar_library_agrees_with_a_second_library_and_the_astronomy_2000_to_2050():
    from lunardate import LunarDate
    for year in range(2000, 2051):
        for code, (month, day) in LUNAR.items():
            assert date_in(BY_CODE[code], year) == LunarDate(year, month, day).to_solar_date(), (code, year)
        assert date_in(BY_CODE["qingming"], year) == _qingming_by_astronomy(year), year


def test_the_published_table_agrees_with_the_second_library_too():
    """The typed table is itself checked against the second source, so a typo in it fails."""
    from lunardate import LunarDate
    for year, days in PUBLISHED.items():
        for code, month_day in zip(CODES, days):
            month, day = map(int, month_day.split("-"))
            if code in LUNAR:
                assert LunarDate(year, *LUNAR[code]).to_solar_date() == date(year, month, day), (code, year)
            else:
                assert _qingming_by_astronomy(year) == date(year, month, day), year
