"""Connections from the balancer to one target: HTTP/1.1 keep-alive, a pool of idle ones.

The balancer's data path is made of asyncio ``Protocol`` callbacks with the ``httptools``
parser on both sides (the parser uvicorn uses), with no task, coroutine or future per request:
that machinery, not the proxying, is what costs a Python balancer its throughput (``make
bench``; aiohttp's server and client reached 0.15x HAProxy, this data path 0.6x). A reply is
read whole before it is sent on, so that a dispatcher's 502/503 can still be retried on
another target.

Reuse follows HAProxy's ``http-reuse safe``: a GET or HEAD may go on an idle connection, and if
that connection turns out to have been closed by the target before any byte of a reply came
back, it is sent again once on a new connection; any other method always gets a new connection,
so it is never sent twice.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import httptools

from lb.errors import BackendClosed

MAX_IDLE = 512  # per target; more than the balancer's own concurrent requests ever need


@dataclass(slots=True)  # not frozen: a frozen __init__ is slow on the hot path
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]  # as received, names in their original case
    body: bytes


# Called once per request with the whole reply, or with why there is none: OSError (refused,
# reset, BackendClosed) or TimeoutError.
ReplyCallback = Callable[[Reply | None, Exception | None], None]


class BackendConnection(asyncio.Protocol):
    """One connection to a target; one request at a time.

    A reply is handed on only once the bytes that carried it have all been parsed: if they
    held more than that one reply (a target answering twice, a 1xx followed by the final
    reply, anything unsolicited), the connection is closed instead of going back to the pool,
    so no byte meant for one request can be read as the reply to the next (a desync).
    Interim 1xx replies are skipped: only the final reply answers a request (RFC 9110 15.2).
    """

    def __init__(self, pool: BackendPool) -> None:
        self._pool = pool
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._done: ReplyCallback | None = None
        self._head = False
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._replied = False
        self._headers_done = False
        self._reply: Reply | None = None  # complete, handed on after the bytes are parsed
        self._reusable = False
        self.deadline = 0.0  # loop time by which the reply must have come
        self.closed = False

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self._done is None:  # nobody asked: an idle connection must stay silent
            self._fail(BackendClosed("unsolicited bytes from target", replied=True))
            return
        self._replied = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._reply = None
            self._fail(BackendClosed(f"malformed reply from target ({exc})", replied=True))
            return
        if self._reply is not None:
            self._hand_on()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._pool.forget(self)
        why = "target closed the connection" if exc is None else f"connection lost ({exc})"
        self._fail(BackendClosed(why, replied=self._replied))

    # --- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._reply is not None:  # a second reply in the same bytes: never reuse this
            self._reusable = False
        self._headers, self._body, self._headers_done = [], [], False

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._headers_done:  # trailers of a chunked reply are dropped
            self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._headers_done = True
        if self._head and not self._interim():
            # A reply to HEAD has no body, whatever its Content-Length says; the parser does
            # not know that, so this connection is not used again.
            self._complete(reusable=False)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._interim():
            return  # 100 Continue, 103 Early Hints...: the final reply is still to come
        if not self._head and self._reply is None:
            self._complete(reusable=self._parser.should_keep_alive())
        else:
            self._reusable = False

    # --- use -------------------------------------------------------------------------------

    def send(self, request: bytes, *, head: bool, timeout: float, done: ReplyCallback) -> None:
        """Send ``request``; ``done`` gets the reply, or TimeoutError after ``timeout`` s."""
        assert self._transport is not None
        assert self._done is None
        self._done = done
        self.deadline = self._pool.deadlines.watch(self, timeout)
        self._head = head
        self._headers, self._body, self._replied = [], [], False
        self._reply, self._reusable = None, False
        self._transport.write(request)

    def close(self) -> None:
        if self._transport is not None and not self.closed:
            self.closed = True
            self._transport.close()

    def _interim(self) -> bool:
        status: int = self._parser.get_status_code()
        return 100 <= status < 200 and status != 101

    def _complete(self, *, reusable: bool) -> None:
        self._reply = Reply(self._parser.get_status_code(), self._headers, b"".join(self._body))
        self._reusable = reusable

    def _hand_on(self) -> None:
        reply, self._reply = self._reply, None
        if reply is not None and reply.status == 101:  # nobody asked to switch protocols
            self._fail(BackendClosed("target switched protocols unasked", replied=True))
            return
        done = self._finish()
        if done is None or reply is None:
            return
        if self._reusable:
            self._pool.release(self)  # first, so that ``done`` may already use it again
        else:
            self.close()
        done(reply, None)

    def _fail(self, error: Exception) -> None:
        done = self._finish()
        self.close()
        if done is not None:
            done(None, error)

    def timed_out(self) -> None:
        # The reply may still come, on no one's behalf: this connection is not used again.
        self._fail(TimeoutError("the target did not reply in time"))

    def _finish(self) -> ReplyCallback | None:
        self._pool.deadlines.forget(self)
        done, self._done = self._done, None
        return done


class Deadlines:
    """Reply timeouts on a coarse tick rather than a timer per request.

    The balancer's timeout is tens of seconds; starting and cancelling a libuv timer for every
    request cost 16 % of its throughput (py-spy), while looking at the few connections awaiting
    a reply a few times a second costs nothing. A reply is late by at most ``resolution``.
    """

    def __init__(self, resolution: float = 0.25) -> None:
        self._resolution = resolution
        self._waiting: set[BackendConnection] = set()
        self._tick: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def watch(self, connection: BackendConnection, timeout: float) -> float:
        """Watch ``connection`` from now; its deadline, in loop time."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self._waiting.add(connection)
        if self._tick is None:
            self._tick = self._loop.call_later(self._resolution, self._sweep)
        return self._loop.time() + timeout

    def forget(self, connection: BackendConnection) -> None:
        self._waiting.discard(connection)

    def close(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None

    def _sweep(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        for connection in [c for c in self._waiting if c.deadline <= now]:
            connection.timed_out()
        # Tick only while something waits: an idle balancer has no timer running.
        self._tick = self._loop.call_later(self._resolution, self._sweep) if self._waiting else None


class BackendPool:
    """Idle keep-alive connections to one target."""

    def __init__(self, host: str, port: int, deadlines: Deadlines) -> None:
        self.host, self.port = host, port
        self.deadlines = deadlines
        self._idle: collections.deque[BackendConnection] = collections.deque()
        self._connecting: set[asyncio.Task[BackendConnection]] = set()

    def exchange(
        self, request: bytes, *, head: bool, reuse: bool, timeout: float, done: ReplyCallback
    ) -> None:
        """Send ``request``, on an idle connection only if ``reuse``; ``done`` gets the reply."""
        connection = self._take_idle() if reuse else None
        if connection is None:
            self._send_on_new(request, head, timeout, done)
            return

        def unless_stale(reply: Reply | None, error: Exception | None) -> None:
            if isinstance(error, BackendClosed) and not error.replied:
                # The target had closed this idle connection: send it again, on a new one.
                self._send_on_new(request, head, timeout, done)
            else:
                done(reply, error)

        connection.send(request, head=head, timeout=timeout, done=unless_stale)

    async def fetch(self, request: bytes, *, head: bool, timeout: float) -> Reply:
        """:meth:`exchange` for a coroutine (the admin path, where speed does not matter)."""
        outcome: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()

        def settle(reply: Reply | None, error: Exception | None) -> None:
            if outcome.done():
                return
            if reply is not None:
                outcome.set_result(reply)
            else:
                outcome.set_exception(error or ConnectionError("no reply"))

        self.exchange(request, head=head, reuse=True, timeout=timeout, done=settle)
        return await outcome

    def release(self, connection: BackendConnection) -> None:
        if len(self._idle) < MAX_IDLE:
            self._idle.append(connection)
        else:
            connection.close()

    def forget(self, connection: BackendConnection) -> None:
        if connection in self._idle:
            self._idle.remove(connection)

    def close(self) -> None:
        for task in self._connecting:
            task.cancel()
        while self._idle:
            self._idle.pop().close()

    def _take_idle(self) -> BackendConnection | None:
        while self._idle:
            connection = self._idle.pop()  # the most recently used: least likely to be stale
            if not connection.closed:
                return connection
        return None

    def _send_on_new(self, request: bytes, head: bool, timeout: float, done: ReplyCallback) -> None:
        loop = asyncio.get_running_loop()
        task = loop.create_task(asyncio.wait_for(self._connect(), timeout))
        self._connecting.add(task)

        def connected(task: asyncio.Task[BackendConnection]) -> None:
            self._connecting.discard(task)
            if task.cancelled():
                done(None, ConnectionAbortedError("the balancer is stopping"))
            elif (error := task.exception()) is not None:
                done(None, error if isinstance(error, Exception) else ConnectionError(error))
            else:
                task.result().send(request, head=head, timeout=timeout, done=done)

        task.add_done_callback(connected)

    async def _connect(self) -> BackendConnection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            lambda: BackendConnection(self), self.host, self.port
        )
        return connection
