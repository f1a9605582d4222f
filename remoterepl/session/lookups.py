"""What completion asks of the remote host: file names (SFTP on the same connection), the
shell's working directory and the command names on its PATH (helpers on a second channel).

Every look-up is asynchronous, bounded by :data:`TIMEOUT`, shared while in flight and
cached briefly: typing never waits for the network. Failures raise OSError or
asyncio.TimeoutError (callers offer no remote completions then).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from typing import TypeVar

from remoterepl.session.helpers import COMMAND_NAMES_SCRIPT, CWD_SCRIPT
from remoterepl.ssh.connection import Connection
from remoterepl.ssh.sftp import RemoteFiles

TIMEOUT = 3.0  # seconds for any one remote look-up
LISTING_TTL = 10.0  # seconds a directory listing stays cached (and until a line is sent)
_COMMAND_NAME = re.compile(r"[\w.+:@-]+")
_T = TypeVar("_T")


class RemoteNames:
    """File and command names of the remote host, fetched lazily and cached."""

    def __init__(self, connection: Callable[[], Connection]) -> None:
        self._current = connection  # the session's connection now (a persisted one changes)
        self._sftp_on: Connection | None = None
        self.reported_cwd: str | None = None  # from OSC 7, when the shell sends it
        self._sftp: asyncio.Future[RemoteFiles] | None = None
        self._commands: asyncio.Future[list[str]] | None = None
        self._cwd: asyncio.Future[str | None] | None = None
        self._home: str | None = None
        self._listings: dict[str, tuple[float, list[tuple[str, bool]]]] = {}

    @property
    def _connection(self) -> Connection:
        return self._current()

    def line_sent(self) -> None:
        """The shell may change directory or files now: forget what may be stale."""
        self._cwd = None
        self._listings.clear()

    def close(self) -> None:
        """Close the SFTP channel, if one was opened."""
        future = self._sftp
        opened = future is not None and future.done() and not future.cancelled()
        if future is not None and opened and future.exception() is None:
            with contextlib.suppress(OSError):
                future.result().close()

    async def _shared(
        self, future: asyncio.Future[_T] | None, start: Callable[[], asyncio.Future[_T]]
    ) -> tuple[asyncio.Future[_T], _T]:
        if future is None or (future.done() and future.exception() is not None):
            future = start()
        return future, await asyncio.wait_for(asyncio.shield(future), TIMEOUT)

    async def files(self) -> RemoteFiles:
        """The SFTP session on this connection (opened on first use, and again on the
        connection a persisted session reconnected with)."""
        if self._sftp_on is not self._connection:
            self.close()
            self._sftp, self._sftp_on = None, self._connection
        self._sftp, files = await self._shared(
            self._sftp, lambda: asyncio.ensure_future(self._connection.open_sftp())
        )
        return files

    async def home(self) -> str:
        """The remote home directory (SFTP's starting directory)."""
        if self._home is None:
            files = await self.files()
            self._home = await asyncio.wait_for(files.realpath("."), TIMEOUT)
        return self._home

    async def cwd(self) -> str:
        """The remote shell's working directory: OSC 7 if the shell reports it, else read
        from /proc through a side channel, else the home directory."""
        if self.reported_cwd:
            return self.reported_cwd
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            self._cwd, found = await self._shared(
                self._cwd, lambda: asyncio.ensure_future(self._probe_cwd())
            )
            if found:
                return found
        return await self.home()

    async def _probe_cwd(self) -> str | None:
        result = await self._connection.run(CWD_SCRIPT, timeout=TIMEOUT)
        paths = [line for line in result.stdout.split("\n") if line.startswith("/")]
        return paths[0] if len(paths) == 1 else None

    async def commands(self) -> list[str]:
        """Command names on the remote PATH (``compgen -c``), fetched once."""
        self._commands, names = await self._shared(
            self._commands, lambda: asyncio.ensure_future(self._fetch_commands())
        )
        return names

    async def _fetch_commands(self) -> list[str]:
        result = await self._connection.run(COMMAND_NAMES_SCRIPT, timeout=TIMEOUT * 2)
        return sorted({n for n in result.stdout.split() if _COMMAND_NAME.fullmatch(n)})

    async def listdir(self, path: str) -> list[tuple[str, bool]]:
        """``(name, is_directory)`` for each entry of remote ``path``, sorted (cached
        briefly)."""
        now = time.monotonic()
        cached = self._listings.get(path)
        if cached is not None and now - cached[0] < LISTING_TTL:
            return cached[1]
        files = await self.files()
        names = sorted(await asyncio.wait_for(files.listdir(path), TIMEOUT))
        self._listings[path] = (now, names)
        return names
