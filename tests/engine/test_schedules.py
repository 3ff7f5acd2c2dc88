"""Schedule timetables: CircleCI's API shape to cron, the next fire time in UTC, and the refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from rondo.engine.schedules import ScheduleError, Timetable, split_parameters

WEEKLY = {"per-hour": 4, "hours-of-day": [9], "days-of-week": ["MON"]}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("timetable", "cron"),
    [
        ({"per-hour": 1, "hours-of-day": [3], "days-of-week": ["MON", "WED", "FRI"]}, "0 3 * * 1,3,5"),
        ({"per-hour": 3, "hours-of-day": [15, 1], "days-of-week": ["wed", "MON", "MON"]}, "0,20,40 1,15 * * 1,3"),
        ({"per-hour": 7, "hours-of-day": [0], "days-of-week": ["SUN"]}, "0,8,17,25,34,42,51 0 * * 0"),
        ({"per-hour": 60, "hours-of-day": [23], "days-of-month": [1, 15]}, "* 23 1,15 * *"),
        ({"per-hour": 2, "hours-of-day": [12], "days-of-month": [28], "months": ["DEC", "JAN"]}, "0,30 12 28 1,12 *"),
        ({"per-hour": 1, "hours-of-day": [0], "days-of-week": ["SAT"], "days-of-month": []}, "0 0 * * 6"),
    ],
)
def test_timetable_becomes_cron(timetable: dict[str, Any], cron: str) -> None:
    assert Timetable.parse(timetable).cron() == cron


def test_timetable_is_shown_in_calendar_order_without_duplicates() -> None:
    parsed = Timetable.parse({"per-hour": 1, "hours-of-day": [15, 1, 15], "days-of-week": ["fri", "MON"]})
    assert parsed.as_json() == {"per-hour": 1, "hours-of-day": [1, 15], "days-of-week": ["MON", "FRI"]}
    assert Timetable.parse(parsed.as_json()) == parsed


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("2026-01-04T23:00:00", "2026-01-05T09:00:00"),  # Sunday night -> Monday 09:00
        ("2026-01-05T09:00:00", "2026-01-05T09:15:00"),  # strictly after: the next quarter hour
        ("2026-01-05T09:45:00", "2026-01-12T09:00:00"),  # after the last run of the day -> next Monday
    ],
)
def test_next_run_is_the_first_fire_time_after(after: str, expected: str) -> None:
    assert Timetable.parse(WEEKLY).next_run(at(after)) == at(expected)


def test_next_run_skips_months_without_the_day() -> None:
    jan_feb_31 = Timetable.parse({"per-hour": 1, "hours-of-day": [0], "days-of-month": [31], "months": ["JAN", "FEB"]})
    assert jan_feb_31.next_run(at("2026-01-31T00:30:00")) == at("2027-01-31T00:00:00")
    leap_day = Timetable.parse({"per-hour": 1, "hours-of-day": [6], "days-of-month": [29], "months": ["FEB"]})
    assert leap_day.next_run(at("2026-03-01T00:00:00")) == at("2028-02-29T06:00:00")


def test_next_run_is_in_utc_whatever_zone_it_is_asked_in() -> None:
    berlin_winter = timezone(timedelta(hours=1))
    found = Timetable.parse(WEEKLY).next_run(datetime(2026, 1, 5, 9, 30, tzinfo=berlin_winter))  # 08:30 UTC
    assert found == at("2026-01-05T09:00:00") and found.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("timetable", "message"),
    [
        ({"cron": "0 3 * * *"}, "unknown field 'cron'; its fields are per-hour, hours-of-day"),
        ("0 3 * * *", "timetable must be an object"),
        ({"hours-of-day": [3], "days-of-week": ["MON"]}, "per-hour must be a whole number from 1 to 60"),
        ({**WEEKLY, "per-hour": 0}, "per-hour must be a whole number from 1 to 60 (runs per hour), not 0"),
        ({**WEEKLY, "per-hour": 61}, "not 61"),
        ({**WEEKLY, "per-hour": True}, "not True"),
        ({**WEEKLY, "per-hour": "2"}, "not '2'"),
        ({**WEEKLY, "hours-of-day": [24]}, "hours-of-day has 24; hours are whole numbers from 0 to 23 (UTC)"),
        ({**WEEKLY, "hours-of-day": []}, "hours-of-day must list at least one hour"),
        ({**WEEKLY, "hours-of-day": 3}, "hours-of-day must be a list"),
        ({**WEEKLY, "days-of-week": ["Monday"]}, "days-of-week has 'Monday'; the days of the week are MON, TUE"),
        ({"per-hour": 1, "hours-of-day": [3]}, 'needs days-of-week (e.g. ["MON", "FRI"]) or days-of-month'),
        ({**WEEKLY, "days-of-month": [1]}, "days-of-week or days-of-month, not both"),
        ({"per-hour": 1, "hours-of-day": [3], "days-of-month": [0]}, "days-of-month has 0; days of the month are"),
        ({**WEEKLY, "months": ["January"]}, "months has 'January'; the months are JAN, FEB"),
        (
            {"per-hour": 1, "hours-of-day": [3], "days-of-month": [30, 31], "months": ["FEB"]},
            "never runs: days-of-month 30,31 do not occur in months FEB",
        ),
    ],
)
def test_bad_timetables_are_refused_with_what_is_right(timetable: object, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        Timetable.parse(timetable)
    assert message in str(caught.value)


def test_parameters_name_a_branch_or_a_tag() -> None:
    assert split_parameters({"branch": "main", "deploy": True, "n": 3}) == ("main", None, {"deploy": True, "n": 3})
    assert split_parameters({"tag": "v1.0"}) == (None, "v1.0", {})
    cases = {
        '"branch" or "tag"': {"deploy": True},
        'both "branch" and "tag"': {"branch": "main", "tag": "v1"},
        "parameters.branch must be the name of a branch": {"branch": ""},
        "parameters.tag must be the name of a tag": {"tag": 7},
        "parameters.x must be a string, integer or boolean": {"branch": "main", "x": [1]},
    }
    for message, parameters in cases.items():
        with pytest.raises(ScheduleError) as caught:
            split_parameters(parameters)
        assert message in str(caught.value), parameters
