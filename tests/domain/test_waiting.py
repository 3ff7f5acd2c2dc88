"""wait_event: the time limit works, and a cancel that lands with the event is never swallowed."""

from __future__ import annotations

import asyncio

import pytest

from rondo.domain.waiting import wait_event


async def test_it_returns_whether_the_event_came() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 0.01) is True
    assert await wait_event(event, -1) is True  # already set: no waiting, even with no time left


async def test_a_cancel_in_the_same_tick_as_the_event_still_stops_the_waiter() -> None:
    # The race asyncio.wait_for loses on Python 3.11: the event wakes the waiter's inner task first,
    # then the cancel arrives, and wait_for returned normally so a service loop went round again.
    rounds = 0
    event = asyncio.Event()

    async def service_loop() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            event.clear()
            await wait_event(event, 60)

    task = asyncio.create_task(service_loop())
    await asyncio.sleep(0)  # the loop is now waiting
    event.set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert rounds == 1
