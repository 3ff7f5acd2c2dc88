"""The HTTP server around the app: uvicorn, ending agents' long polls first so that stopping is prompt."""

from __future__ import annotations

import socket

import uvicorn

from rondo.engine.wakeup import Wakeup


class HttpServer(uvicorn.Server):
    """uvicorn that answers the open long polls (claims, heartbeats) before it waits for requests to end.

    uvicorn's graceful shutdown waits for every running request, and a claim may wait ~30 s for a task:
    without this, stopping waits out the graceful timeout and cancels them ("timeout graceful shutdown
    exceeded"). Closing the wakeup here runs in the event loop for every way of stopping (a signal, or
    `should_exit` set by whoever runs the server in a thread), not in a signal handler.
    """

    def __init__(self, config: uvicorn.Config, wakeup: Wakeup) -> None:
        super().__init__(config)
        self._wakeup = wakeup

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._wakeup.close()
        await super().shutdown(sockets)
