"""Waiting for an asyncio event with a time limit, without losing a cancellation.

Python 3.11's `asyncio.wait_for` runs the wait in an inner task and, when that task finishes just as
the caller is cancelled, returns normally: the cancel is swallowed and a service loop that should stop
goes round again and sleeps (found as a hang in the schedules loop's shutdown). `asyncio.timeout`
waits in the caller's own task, so a cancel always arrives.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until `event` is set or `timeout_s` has passed; True when it was set."""
    try:
        async with asyncio.timeout(max(timeout_s, 0.0)):
            await event.wait()
    except TimeoutError:
        return False
    return True
