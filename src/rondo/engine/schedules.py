"""Scheduled pipelines: CircleCI's schedule timetables as cron (UTC), and the service that fires them.

A timetable is `{per-hour, hours-of-day, days-of-week | days-of-month, months?}` as in API v2.
When a schedule is due it makes one pipeline (trigger type `scheduled_pipeline`) with its branch or
tag and parameters; fire times missed while the server was down are not made up, the schedule simply
fires once and moves on to its next time.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import logging
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.waiting import wait_event
from rondo.engine.pipelines import PipelineService, Trigger
from rondo.store import schedules as schedule_q
from rondo.store.db import Database
from rondo.store.models import Pipeline, Schedule, User
from rondo.store.types import utcnow

log = logging.getLogger(__name__)

DAYS_OF_WEEK = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")  # ISO order; cron numbers are (index + 1) % 7
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")  # index + 1
FIELDS = ("per-hour", "hours-of-day", "days-of-week", "days-of-month", "months")
ATTRIBUTION_ACTORS = ("current", "system")
# The "system" attribution: pipelines run as the scheduling system, not as a user.
SYSTEM_ACTOR_ID = uuid.UUID("5c4ed0e0-7ab1-4f53-9a43-2d3a8bd1e5a1")
SYSTEM_ACTOR_LOGIN = "system-actor"
SYSTEM_ACTOR_NAME = "Scheduling System"
MAX_SLEEP_S = 60.0


class ScheduleError(ValueError):
    """A schedule that cannot be saved as given; the message says what is wrong and what would be right."""


class ScheduleExists(Exception):
    pass


@dataclass(frozen=True)
class Timetable:
    per_hour: int
    hours_of_day: tuple[int, ...]
    days_of_week: tuple[str, ...] = ()
    days_of_month: tuple[int, ...] = ()
    months: tuple[str, ...] = ()  # empty: every month

    @classmethod
    def parse(cls, data: object) -> Timetable:
        """Validate a timetable as the API takes it; raises ScheduleError."""
        if not isinstance(data, Mapping):
            raise ScheduleError(
                "timetable must be an object with per-hour, hours-of-day and days-of-week or days-of-month"
            )
        unknown = sorted(str(k) for k in data if k not in FIELDS)
        if unknown:
            raise ScheduleError(
                f"timetable has unknown field {', '.join(repr(k) for k in unknown)}; "
                "its fields are per-hour, hours-of-day, days-of-week, days-of-month and months"
            )
        per_hour = data.get("per-hour")
        if not isinstance(per_hour, int) or isinstance(per_hour, bool) or not 1 <= per_hour <= 60:
            raise ScheduleError(
                f"timetable.per-hour must be a whole number from 1 to 60 (runs per hour), not {per_hour!r}"
            )
        hours = _ints(data, "hours-of-day", 0, 23, "hours are whole numbers from 0 to 23 (UTC), e.g. [0, 12]")
        if not hours:
            raise ScheduleError("timetable.hours-of-day must list at least one hour from 0 to 23 (UTC), e.g. [3]")
        weekdays = _names(data, "days-of-week", DAYS_OF_WEEK, "days of the week")
        monthdays = _ints(data, "days-of-month", 1, 31, "days of the month are whole numbers from 1 to 31")
        if weekdays and monthdays:
            raise ScheduleError("timetable takes days-of-week or days-of-month, not both: give one of them")
        if not weekdays and not monthdays:
            raise ScheduleError('timetable needs days-of-week (e.g. ["MON", "FRI"]) or days-of-month (e.g. [1, 15])')
        months = _names(data, "months", MONTHS, "months")
        timetable = cls(per_hour, hours, weekdays, monthdays, months)
        if monthdays and months and not any(d <= _longest(m) for d in monthdays for m in months):
            raise ScheduleError(
                f"this timetable never runs: days-of-month {_join(monthdays)} "
                f"do not occur in months {', '.join(months)}"
            )
        return timetable

    def cron(self) -> str:
        """The 5-field cron expression (UTC) with the same fire times."""
        minutes = sorted({i * 60 // self.per_hour for i in range(self.per_hour)})
        return " ".join(
            (
                "*" if self.per_hour == 60 else _join(minutes),
                _join(self.hours_of_day),
                _join(self.days_of_month) if self.days_of_month else "*",
                _join(MONTHS.index(m) + 1 for m in self.months) if self.months else "*",
                _join(sorted((DAYS_OF_WEEK.index(d) + 1) % 7 for d in self.days_of_week)) if self.days_of_week else "*",
            )
        )

    def next_run(self, after: datetime) -> datetime:
        """The first fire time strictly after `after`, in UTC."""
        found = croniter(self.cron(), after.astimezone(UTC)).get_next(datetime)
        assert isinstance(found, datetime)
        return found.astimezone(UTC)

    def as_json(self) -> dict[str, Any]:
        """The timetable as the API shows it (days and months in calendar order, no duplicates)."""
        body: dict[str, Any] = {"per-hour": self.per_hour, "hours-of-day": list(self.hours_of_day)}
        if self.days_of_week:
            body["days-of-week"] = list(self.days_of_week)
        if self.days_of_month:
            body["days-of-month"] = list(self.days_of_month)
        if self.months:
            body["months"] = list(self.months)
        return body


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _ints(data: Mapping[str, Any], field: str, low: int, high: int, rule: str) -> tuple[int, ...]:
    values = data.get(field)
    values = [] if values is None else values
    if not isinstance(values, list):
        raise ScheduleError(f"timetable.{field} must be a list: {rule}")
    for value in values:
        if not _is_int(value) or not low <= value <= high:
            raise ScheduleError(f"timetable.{field} has {value!r}; {rule}")
    return tuple(sorted(set(values)))


def _names(data: Mapping[str, Any], field: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    values = data.get(field)
    values = [] if values is None else values
    rule = f"the {what} are {', '.join(allowed)}"
    if not isinstance(values, list):
        raise ScheduleError(f"timetable.{field} must be a list; {rule}")
    for value in values:
        if not isinstance(value, str) or value.upper() not in allowed:
            raise ScheduleError(f"timetable.{field} has {value!r}; {rule}")
    wanted = {v.upper() for v in values}
    return tuple(name for name in allowed if name in wanted)


def _longest(month: str) -> int:
    return calendar.monthrange(2024, MONTHS.index(month) + 1)[1]  # a leap year: February has 29 days


def _join(numbers: Any) -> str:
    return ",".join(str(n) for n in numbers)


def split_parameters(parameters: Mapping[str, Any]) -> tuple[str | None, str | None, dict[str, Any]]:
    """(branch, tag, pipeline parameters) of a schedule's parameters, which name a branch or a tag."""
    if not isinstance(parameters, Mapping):
        raise ScheduleError('parameters must be an object, e.g. {"branch": "main"}')
    for key, value in parameters.items():
        if not isinstance(value, str | int | bool):
            raise ScheduleError(f"parameters.{key} must be a string, integer or boolean")
    branch, tag = parameters.get("branch"), parameters.get("tag")
    if branch is None and tag is None:
        raise ScheduleError(
            'parameters must contain "branch" or "tag": where the scheduled pipeline runs, e.g. {"branch": "main"}'
        )
    if branch is not None and tag is not None:
        raise ScheduleError('parameters has both "branch" and "tag"; a schedule runs one of them')
    for key, value in (("branch", branch), ("tag", tag)):
        if value is not None and (not isinstance(value, str) or not value.strip() or "\x00" in value):
            raise ScheduleError(f"parameters.{key} must be the name of a {key}, not {value!r}")
    rest = {k: v for k, v in parameters.items() if k not in ("branch", "tag")}
    return branch, tag, rest


def _check_actor(attribution_actor: str) -> None:
    if attribution_actor not in ATTRIBUTION_ACTORS:
        raise ScheduleError(
            f"attribution-actor must be 'current' (run as you) or 'system' (the scheduling system), "
            f"not {attribution_actor!r}"
        )


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    timetable: Mapping[str, Any]
    attribution_actor: str
    parameters: Mapping[str, Any]
    description: str | None = None


EDITABLE = ("name", "description", "timetable", "attribution_actor", "parameters")


class ScheduleService:
    """Create, change and delete schedules, and fire the due ones (`run_loop` in the server)."""

    def __init__(self, db: Database, pipelines: PipelineService) -> None:
        self._db = db
        self._pipelines = pipelines
        self._changed = asyncio.Event()

    async def create(self, project_id: uuid.UUID, spec: ScheduleSpec, user: User) -> Schedule:
        """Raises ScheduleError for a bad spec, ScheduleExists when the project has one of that name."""
        timetable = Timetable.parse(spec.timetable)
        split_parameters(spec.parameters)
        _check_actor(spec.attribution_actor)
        now = utcnow()
        schedule = Schedule(
            project_id=project_id,
            name=spec.name,
            description=spec.description,
            timetable=timetable.as_json(),
            attribution_actor=spec.attribution_actor,
            parameters=dict(spec.parameters),
            actor_id=user.id,
            actor_login=user.login,
            created_at=now,
            updated_at=now,
            next_run_at=timetable.next_run(now),
        )
        with _unique_names(spec.name):
            async with self._db.session() as session:
                await _check_name(session, schedule)
                session.add(schedule)
        self._changed.set()
        return schedule

    async def update(self, schedule_id: uuid.UUID, changes: Mapping[str, Any], user: User) -> Schedule | None:
        """Change the given fields (keys of EDITABLE); None when there is no such schedule."""
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise ScheduleError(f"cannot change {', '.join(sorted(unknown))}")
        timetable = Timetable.parse(changes["timetable"]) if "timetable" in changes else None
        if "parameters" in changes:
            split_parameters(changes["parameters"])
        if "attribution_actor" in changes:
            _check_actor(changes["attribution_actor"])
        now = utcnow()
        with _unique_names(str(changes.get("name", ""))):
            async with self._db.session() as session:
                schedule = await schedule_q.schedule_by_id(session, schedule_id)
                if schedule is None:
                    return None
                for key in ("name", "description", "attribution_actor"):
                    if key in changes:
                        setattr(schedule, key, changes[key])
                if "parameters" in changes:
                    schedule.parameters = dict(changes["parameters"])
                if timetable is not None:
                    schedule.timetable = timetable.as_json()
                    schedule.next_run_at = timetable.next_run(now)
                if "attribution_actor" in changes:  # "current" now means whoever set it
                    schedule.actor_id, schedule.actor_login = user.id, user.login
                schedule.updated_at = now
                await _check_name(session, schedule)
        self._changed.set()
        return schedule

    async def delete(self, schedule_id: uuid.UUID) -> bool:
        async with self._db.session() as session:
            schedule = await schedule_q.schedule_by_id(session, schedule_id)
            if schedule is None:
                return False
            await session.delete(schedule)
        self._changed.set()
        return True

    async def run_due(self, now: datetime | None = None) -> list[Pipeline]:
        """Make a pipeline for every schedule due at `now` and move each to its next fire time."""
        now = now or utcnow()
        firing: list[tuple[uuid.UUID, Trigger]] = []
        async with self._db.session() as session:
            for schedule in await schedule_q.due_schedules(session, now):
                # Advance before firing, in the same transaction that claims it: each fire time fires once.
                try:
                    schedule.next_run_at = Timetable.parse(schedule.timetable).next_run(now)
                    firing.append((schedule.project_id, _trigger(schedule)))
                except ScheduleError as exc:  # only a row edited by hand can get here
                    log.error("schedule %s cannot fire (%s); trying again in a day", schedule.id, exc)
                    schedule.next_run_at = now + timedelta(days=1)
                    continue
                schedule.last_run_at = now
        pipelines = []
        for project_id, trigger in firing:
            try:
                pipelines.append(await self._pipelines.trigger(project_id, trigger))
            except Exception:
                log.exception("schedule %s (%s) could not make a pipeline", trigger.schedule_id, trigger.schedule_name)
        return pipelines

    async def seconds_to_next(self) -> float:
        """How long until the earliest schedule is due, at most MAX_SLEEP_S."""
        async with self._db.session() as session:
            earliest = await schedule_q.earliest_next_run(session)
        if earliest is None:
            return MAX_SLEEP_S
        return min(MAX_SLEEP_S, max(0.0, (earliest - utcnow()).total_seconds()))

    async def run_loop(self) -> None:
        """Fire due schedules; sleep until the next is due, or until a schedule is created or changed."""
        while True:
            self._changed.clear()
            try:
                await self.run_due()
                delay = await self.seconds_to_next()
            except Exception:
                log.exception("firing schedules failed")
                delay = MAX_SLEEP_S
            await wait_event(self._changed, delay)


async def _check_name(session: AsyncSession, schedule: Schedule) -> None:
    clash = await schedule_q.schedule_by_name(session, schedule.project_id, schedule.name)
    if clash is not None and clash.id != schedule.id:
        raise ScheduleExists(f"this project already has a schedule named {schedule.name!r}")


@contextlib.contextmanager
def _unique_names(name: str) -> Iterator[None]:
    """A concurrent save that took the same name first shows up as a unique-constraint violation."""
    try:
        yield
    except IntegrityError:
        raise ScheduleExists(f"this project already has a schedule named {name!r}") from None


def _trigger(schedule: Schedule) -> Trigger:
    branch, tag, parameters = split_parameters(schedule.parameters)
    actor = SYSTEM_ACTOR_LOGIN if schedule.attribution_actor == "system" else schedule.actor_login
    return Trigger(
        type="scheduled_pipeline",
        actor=actor,
        branch=branch,
        tag=tag,
        parameters=parameters,
        schedule_id=str(schedule.id),
        schedule_name=schedule.name,
    )
