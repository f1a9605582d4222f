"""A loopback TCP proxy between a client and a server, for link-fault tests.

``LinkProxy(target_port)`` listens on 127.0.0.1 on a free port (:attr:`LinkProxy.port`) and
forwards every connection to ``127.0.0.1:target_port``. Faults, each done when the call
returns:

* :meth:`~LinkProxy.cut`: every proxied connection is reset (SO_LINGER 0, both ends get a
  TCP RST) and the listener closes: new connects are refused.
* :meth:`~LinkProxy.restore`: listen again on the same port, forward again (also after
  a stall).
* :meth:`~LinkProxy.stall` / :meth:`~LinkProxy.resume`: no byte moves either way, yet every
  connection stays open (a dead link that still looks up: keepalives go unanswered).
  Connections accepted meanwhile are held the same way.

An optional delay per direction (``delay_up`` client to server, ``delay_down`` back, in
seconds) holds each chunk that long before forwarding it, order kept (a WAN for
benchmarks: loopback has no netem here). At most ``window`` bytes wait per direction
(the link's bandwidth-delay product); beyond that the proxy stops reading that side.

The proxy runs an asyncio loop of its own in a daemon thread; the methods above are called
from the test's thread and block until the loop has done them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import socket
import struct
import termios
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from tests.client_env import ClientEnv
from tests.system import LOOPBACK

_T = TypeVar("_T")
_CALL_TIMEOUT = 10.0
#: Above this many unwritten bytes a side stops reading its peer (asyncio's default is 64 KiB:
#: too small to keep loopback streams fast).
_WRITE_HIGH = 1 << 20


class _Side(asyncio.Protocol):
    """One socket of a proxied connection: the client's or the server's."""

    def __init__(self, link: _Link) -> None:
        self.link = link
        self.transport: asyncio.Transport | None = None
        self.write_paused = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=_WRITE_HIGH)
        # asyncio turns Nagle off only on sockets made with proto IPPROTO_TCP, not on the
        # accepted ones (proto 0): a chunk sent behind an unacknowledged one would wait for
        # the peer's delayed ACK (~40 ms), a delay no real link adds.
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.link.made(self)

    def data_received(self, data: bytes) -> None:
        self.link.outgoing(self).push(data)

    def eof_received(self) -> bool:
        self.link.outgoing(self).push(None)
        return True  # keep the other direction open (a half-close is forwarded, not closed)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.link.lost(self, exc)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self.link.incoming(self).pump()

    def set_reading(self, on: bool) -> None:
        """Read from this socket or not (asyncio ignores a repeated pause or resume)."""
        if self.transport is None or self.closed or self.transport.is_closing():
            return
        if on:
            self.transport.resume_reading()
        else:
            self.transport.pause_reading()

    def reset(self) -> None:
        """Close with a TCP RST (SO_LINGER 0) instead of a FIN."""
        if self.transport is None or self.closed:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()


def _unread(side: _Side) -> int:
    """Bytes in *side*'s socket receive buffer, not read yet."""
    if side.transport is None or side.closed:
        return 0
    sock = side.transport.get_extra_info("socket")
    try:
        raw = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    return int(struct.unpack("i", raw)[0])


class _Direction:
    """Bytes from one side to the other: a queue of (due time, chunk or None for EOF)."""

    def __init__(self, proxy: LinkProxy, src: _Side, dst: _Side, name: str) -> None:
        self.proxy, self.src, self.dst, self.name = proxy, src, dst, name
        self.queue: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self.queued = 0
        self.timer: asyncio.TimerHandle | None = None
        self.eof_sent = False

    @property
    def delay(self) -> float:
        return self.proxy.delay_up if self.name == "up" else self.proxy.delay_down

    def push(self, data: bytes | None) -> None:
        """Queue a chunk (None: the peer's EOF) to be written after the delay."""
        loop = self.proxy.loop
        self.queue.append((loop.time() + self.delay, data))
        self.queued += len(data or b"")
        self.pump()

    def pump(self) -> None:
        """Write what is due, unless stalled or the destination is not ready."""
        dst = self.dst.transport
        ready = dst is not None and not self.dst.closed and not self.proxy.stalled
        now = self.proxy.loop.time()
        while ready and self.queue and self.queue[0][0] <= now and not self.dst.write_paused:
            _due, data = self.queue.popleft()
            assert dst is not None
            if data is None:
                self.eof_sent = True
                if dst.can_write_eof():
                    dst.write_eof()
                self.src.link.maybe_finished()
            else:
                self.queued -= len(data)
                dst.write(data)
                self.proxy.count(self.name, len(data))
        if ready and self.queue and self.timer is None and self.queue[0][0] > now:
            self.timer = self.proxy.loop.call_at(self.queue[0][0], self._due)
        self.src.set_reading(
            ready and not self.dst.write_paused and self.queued < self.proxy.window
        )

    def _due(self) -> None:
        self.timer = None
        self.pump()

    def drop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()
        self.queued = 0


class _Link:
    """One proxied connection: the client's side, the server's side, a direction each way."""

    def __init__(self, proxy: LinkProxy) -> None:
        self.proxy = proxy
        self.client = _Side(self)
        self.server = _Side(self)
        self.up = _Direction(proxy, self.client, self.server, "up")
        self.down = _Direction(proxy, self.server, self.client, "down")
        self.connecting: asyncio.Task[Any] | None = None
        self.done = False

    def outgoing(self, side: _Side) -> _Direction:
        return self.up if side is self.client else self.down

    def incoming(self, side: _Side) -> _Direction:
        return self.down if side is self.client else self.up

    def made(self, side: _Side) -> None:
        if side is self.client:
            side.set_reading(False)  # until the server's side is up
            self.connecting = self.proxy.loop.create_task(self._connect())
        else:
            self.up.pump()
            self.down.pump()

    async def _connect(self) -> None:
        try:
            await self.proxy.loop.create_connection(
                lambda: self.server, LOOPBACK, self.proxy.target_port
            )
        except OSError:
            self.reset()

    def lost(self, side: _Side, exc: Exception | None) -> None:
        """One socket is gone: an error (a reset) resets the other, a close closes it."""
        if self.done:
            return
        other = self.server if side is self.client else self.client
        if exc is not None:
            self.reset()
        else:
            self.finish(other)

    def maybe_finished(self) -> None:
        """Both ways ended with an EOF: close both sockets once their bytes are out."""
        if self.up.eof_sent and self.down.eof_sent:
            self.finish(None)

    def finish(self, side: _Side | None) -> None:
        for each in (self.client, self.server) if side is None else (side,):
            if each.transport is not None and not each.closed:
                each.transport.close()
        self._forget()

    def reset(self) -> None:
        if self.connecting is not None:
            self.connecting.cancel()
        self.client.reset()
        self.server.reset()
        self._forget()

    def _forget(self) -> None:
        if not self.done:
            self.done = True
            self.up.drop()
            self.down.drop()
            self.proxy.links.discard(self)
            self.proxy.changed()


class LinkProxy:
    """A loopback TCP proxy to ``127.0.0.1:target_port`` with cut/restore/stall/resume.

    Use as a context manager (or call :meth:`close`); see the module docstring.
    """

    def __init__(
        self,
        target_port: int,
        *,
        delay_up: float = 0.0,
        delay_down: float = 0.0,
        window: int = 8 << 20,
    ) -> None:
        """Start listening on a free loopback port; forward to *target_port*."""
        self.target_port = target_port
        self.delay_up = delay_up
        self.delay_down = delay_down
        self.window = window
        self.port = 0
        self.stalled = False
        self.accepted = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self.links: set[_Link] = set()
        self.errors: list[str] = []
        self._cond = threading.Condition()
        self._server: asyncio.AbstractServer | None = None
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._on_error)
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="link-proxy", daemon=True
        )
        self._thread.start()
        self._call(self._listen())

    # -- the test's side -------------------------------------------------------------------

    @property
    def connections(self) -> int:
        """Proxied connections open now."""
        return len(self.links)

    @property
    def listening(self) -> bool:
        """True unless cut (and not restored)."""
        return self._server is not None

    def cut(self) -> None:
        """Reset every connection (RST both ways) and stop listening: connects are refused."""
        self._call(self._cut())

    def restore(self) -> None:
        """Listen on the same port again and forward (a stall before the cut is over)."""
        self._call(self._set_stalled(False))
        self._call(self._listen())

    def stall(self) -> None:
        """Move no more bytes either way; keep every connection open."""
        self._call(self._set_stalled(True))

    def resume(self) -> None:
        """Move bytes again (what waited goes first)."""
        self._call(self._set_stalled(False))

    def upstream_ports(self) -> list[int]:
        """Source ports of the proxy's connections to the target (what the server sees as
        its peers' ports: e.g. to find the sshd process serving one)."""
        return self._call(self._upstream_ports())

    def held(self) -> tuple[int, int]:
        """Bytes that reached the proxy and wait to go on, (up, down): in its queues and
        unread in its sockets (FIONREAD), e.g. what a stalled link holds."""
        return self._call(self._held())

    def set_delay(self, up: float, down: float) -> None:
        """Hold chunks that arrive from now on *up* / *down* seconds per direction."""
        self.delay_up, self.delay_down = up, down

    def wait_for(self, predicate: Callable[[LinkProxy], bool], timeout: float = 10.0) -> None:
        """Wait until *predicate(self)* holds (checked on every connection and byte count
        change); raise TimeoutError with the proxy's state otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self), timeout):
                raise TimeoutError(f"link proxy condition not met within {timeout}s: {self}")

    def close(self) -> None:
        """Reset everything, stop the loop and its thread."""
        if self.loop.is_closed():
            return
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._call(self._cut())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(_CALL_TIMEOUT)
        if not self._thread.is_alive():
            self.loop.close()

    def __enter__(self) -> LinkProxy:
        """Return the running proxy."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop everything."""
        self.close()

    def __repr__(self) -> str:
        state = "stalled" if self.stalled else ("listening" if self.listening else "cut")
        return (
            f"<LinkProxy :{self.port} -> :{self.target_port} {state} "
            f"connections={self.connections} accepted={self.accepted} "
            f"up={self.bytes_up} down={self.bytes_down}>"
        )

    # -- the loop's side -------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(_CALL_TIMEOUT)

    def _on_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.errors.append(str(context.get("exception") or context.get("message")))

    def changed(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def count(self, direction: str, n: int) -> None:
        if direction == "up":
            self.bytes_up += n
        else:
            self.bytes_down += n
        self.changed()

    def _accepted(self) -> _Side:
        link = _Link(self)
        self.links.add(link)
        self.accepted += 1
        self.changed()
        return link.client

    async def _listen(self) -> None:
        if self._server is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, self.port))
        except OSError:
            sock.close()
            raise
        self.port = int(sock.getsockname()[1])
        self._server = await self.loop.create_server(self._accepted, sock=sock, backlog=64)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()  # closes the listening socket now; not the connections
            self._server = None
        for link in list(self.links):
            link.reset()
        self.changed()

    async def _upstream_ports(self) -> list[int]:
        ports = []
        for link in self.links:
            transport = link.server.transport
            if transport is not None and not link.server.closed:
                ports.append(int(transport.get_extra_info("sockname")[1]))
        return sorted(ports)

    async def _held(self) -> tuple[int, int]:
        up = down = 0
        for link in self.links:
            up += link.up.queued + _unread(link.client)
            down += link.down.queued + _unread(link.server)
        return up, down

    async def _set_stalled(self, stalled: bool) -> None:
        self.stalled = stalled
        for link in list(self.links):
            link.up.pump()
            link.down.pump()


def trust_proxy(env: ClientEnv, proxy: LinkProxy) -> None:
    """Let *env*'s clients reach its server through *proxy* (``-p PROXY_PORT``): its
    known_hosts gets the server's key for the proxy's port too."""
    key = env.host_key_line.split(" ", 1)[1]
    with env.known_hosts_path.open("a") as known:
        known.write(f"[{LOOPBACK}]:{proxy.port} {key}\n")
