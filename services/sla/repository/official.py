"""Official public holidays and make-up working days (调休) from the `holidays` package, which follows each
year's government notice and publishes it in a new release: upgrading the package brings the next year.

A year the package has the notice for is *published*: its days off and its make-up working days are the
notice's. For a later year only the statutory holidays are certain (the dates the law fixes: 元旦, 除夕 and
three days of 春节, 清明, two days of 劳动节, 端午, 中秋, three days of 国庆); how they are bridged and which
weekends are worked is not known until the notice, so nothing of that is guessed. A calendar's data ends with
the last published year; clocks that run past it count the statutory days as holidays and raise a warning.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from importlib.metadata import version

from holidays.countries.china import China, ChinaStaticHolidays

from services.sla.domain.calendar import DayNote, OfficialDays

SOURCES: dict[str, str] = {
    "CN": "Mainland China: State Council holiday notices (放假安排), via the holidays package"
}
"""Official sources a calendar can follow, by code."""

FIRST_YEAR = 2001
"""The first year the package lists make-up working days for."""

YEARS_AFTER = 3
"""Years after the last published one that get their statutory holidays (clocks run days, not years)."""


@dataclass(frozen=True)
class SourceInfo:
    code: str
    description: str
    package: str
    published_through: date


def published_years(code: str) -> tuple[int, ...]:
    """Years whose official notice the installed package carries."""
    if code != "CN":
        raise KeyError(code)
    # The package keeps each year's notice (extra days off and the weekends worked for them) in this table.
    return tuple(sorted(y for y in ChinaStaticHolidays.special_public_holidays if y >= FIRST_YEAR))


@functools.lru_cache(maxsize=8)
def official_days(code: str) -> OfficialDays:
    """Every official day off and make-up working day of the source, from FIRST_YEAR to YEARS_AFTER past the
    last published year (statutory holidays only for those)."""
    published = published_years(code)
    last = published[-1]
    days_off: dict[date, str] = {}
    workdays: set[date] = set()
    for year in range(FIRST_YEAR, last + 1):
        year_days = China(years=year, observed=True, language="zh_CN")  # type: ignore[no-untyped-call]
        days_off.update((day, str(name)) for day, name in year_days.items() if day.year == year)
        workdays.update(day for day in year_days.weekend_workdays if day.year == year)
    for year in range(last + 1, last + 1 + YEARS_AFTER):
        statutory = China(years=year, observed=False, language="zh_CN")  # type: ignore[no-untyped-call]
        days_off.update((day, f"{name}（法定，当年安排未发布）") for day, name in statutory.items())
    return OfficialDays(
        source=code,
        holidays=tuple(DayNote(day, name) for day, name in sorted(days_off.items())),
        workdays=tuple(DayNote(day, "调休上班") for day in sorted(workdays)),
        published_through=date(last, 12, 31),
    )


def source_info(code: str) -> SourceInfo:
    return SourceInfo(
        code=code,
        description=SOURCES[code],
        package=f"holidays {version('holidays')}",
        published_through=official_days(code).published_through,
    )
