"""A persisted session's output streams on the client: fed by whichever link is up,
read by the front end; absolute byte offsets, as the holder counts them."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable


class HeldStream:
    """One output stream (stdout or stderr) of a persisted session."""

    def __init__(self, on_read: Callable[[], None]) -> None:
        self._chunks: collections.deque[bytes] = collections.deque()
        self._ready = asyncio.Event()
        self._ended = False
        self._on_read = on_read
        self.received = 0  # absolute offset just past the last byte that arrived
        self.consumed = 0  # ... and past the last byte the front end took

    def start_at(self, offset: int) -> None:
        """The holder replays from ``offset`` (a new client: what it still holds)."""
        self.received = self.consumed = offset

    def feed(self, data: bytes) -> None:
        """Bytes from the holder."""
        if data and not self._ended:  # after a detach, what still comes is not ours
            self._chunks.append(data)
            self.received += len(data)
            self._ready.set()

    def skip(self, lost: int) -> None:
        """The holder no longer had ``lost`` bytes: what comes next starts past them."""
        self.received += lost
        self.consumed += lost

    def end(self) -> None:
        """No more bytes will come."""
        self._ended = True
        self._ready.set()

    @property
    def drained(self) -> bool:
        """True once ended and every byte was read."""
        return self._ended and not self._chunks

    async def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; b"" at the end."""
        while not self._chunks and not self._ended:
            self._ready.clear()
            await self._ready.wait()
        if not self._chunks:
            self._on_read()
            return b""
        data = self._chunks.popleft()
        if len(data) > size:
            data, rest = data[:size], data[size:]
            self._chunks.appendleft(rest)
        self.consumed += len(data)
        self._on_read()
        return data
