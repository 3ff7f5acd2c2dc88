"""Wakes agents waiting in a long-poll claim the moment a task is queued, instead of polling."""

from __future__ import annotations

import asyncio


class Wakeup:
    """An in-process broadcast: `waiter()` before looking for work, `notify()` after queueing work.

    Taking the waiter first means a notify that lands between "found nothing" and "wait" is not lost.
    Scale-out replaces this with PostgreSQL NOTIFY / Redis behind the same two methods.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.closed = False
        self._followers: list[Wakeup] = []

    def follower(self) -> Wakeup:
        """Another wakeup for other events (e.g. cancels) that closes when this one closes."""
        other = Wakeup()
        self._followers.append(other)
        return other

    def waiter(self) -> asyncio.Event:
        return self._event

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def close(self) -> None:
        """The server is stopping: wake every waiter now so long polls end instead of holding shutdown."""
        self.closed = True
        self.notify()
        for other in self._followers:
            other.close()
