"""The holidays greetings follow, and their dates in a given year. Lunar dates and solar
terms come from lunar_python (6tail's calendar library, which computes both from the
astronomy rather than a table per year); Gregorian dates are fixed; the brand's own dates
are greetings with a month and a day."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lunar_python import Lunar

from wxcrm.errors import N_


@dataclass(frozen=True)
class Holiday:
    code: str
    name: str          # zh, as customers know it
    label: str         # English, translated for the console
    calendar: str      # lunar | term | solar
    month: int = 0
    day: int = 0
    term: str = ""


HOLIDAYS: tuple[Holiday, ...] = (
    Holiday("new_year", "元旦", N_("New Year's Day"), "solar", 1, 1),
    Holiday("spring_festival", "春节", N_("Spring Festival"), "lunar", 1, 1),
    Holiday("lantern", "元宵节", N_("Lantern Festival"), "lunar", 1, 15),
    Holiday("qingming", "清明节", N_("Qingming Festival"), "term", term="清明"),
    Holiday("dragon_boat", "端午节", N_("Dragon Boat Festival"), "lunar", 5, 5),
    Holiday("qixi", "七夕", N_("Qixi Festival"), "lunar", 7, 7),
    Holiday("mid_autumn", "中秋节", N_("Mid-Autumn Festival"), "lunar", 8, 15),
    Holiday("double_ninth", "重阳节", N_("Double Ninth Festival"), "lunar", 9, 9),
    Holiday("national_day", "国庆节", N_("National Day"), "solar", 10, 1),
    Holiday("christmas", "圣诞节", N_("Christmas"), "solar", 12, 25),
)
BY_CODE = {h.code: h for h in HOLIDAYS}
MIN_YEAR, MAX_YEAR = 1901, 2099


def date_in(holiday: Holiday, year: int) -> date:
    """The Gregorian date of a holiday in ``year``."""
    if holiday.calendar == "solar":
        return date(year, holiday.month, holiday.day)
    if holiday.calendar == "lunar":
        # every festival here falls in the Gregorian year of its lunar year
        solar = Lunar.fromYmd(year, holiday.month, holiday.day).getSolar()
        return date(solar.getYear(), solar.getMonth(), solar.getDay())
    solar = Lunar.fromYmd(year, 6, 1).getJieQiTable()[holiday.term]   # the lunar year's terms
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def holidays_of(year: int) -> list[tuple[Holiday, date]]:
    """Every holiday with its date in ``year``, in date order."""
    return sorted(((h, date_in(h, year)) for h in HOLIDAYS), key=lambda pair: pair[1])
