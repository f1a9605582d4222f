"""Remote file names over SFTP on the session's own connection (for completion)."""

from __future__ import annotations

import contextlib
import stat
from collections.abc import Iterator

import asyncssh

from remoterepl.errors import ChannelClosed


@contextlib.contextmanager
def _as_os_errors() -> Iterator[None]:
    """An SFTP status (no such file, permission denied) as an OSError; a lost channel or
    connection as ChannelClosed."""
    try:
        yield
    except asyncssh.SFTPError as exc:
        raise OSError(exc.reason or type(exc).__name__) from None
    except asyncssh.Error as exc:
        raise ChannelClosed(exc.reason or type(exc).__name__) from None


class RemoteFiles:
    """An open SFTP client: the home directory and directory listings. Failures raise
    OSError (ChannelClosed, one of them, when the channel is gone)."""

    def __init__(self, client: asyncssh.SFTPClient) -> None:
        self._client = client

    async def realpath(self, path: str) -> str:
        """The absolute, canonical form of ``path`` (``"."``: the login directory)."""
        with _as_os_errors():
            return str(await self._client.realpath(path))

    async def listdir(self, path: str) -> list[tuple[str, bool]]:
        """``(name, is_directory)`` for each entry of ``path``, without ``.`` and ``..``."""
        with _as_os_errors():
            entries = await self._client.readdir(path)
        names = []
        for entry in entries:
            name = str(entry.filename)
            if name in (".", ".."):
                continue
            attrs = entry.attrs
            if attrs.permissions is not None:
                is_dir = stat.S_ISDIR(attrs.permissions)
            else:
                is_dir = attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY
            names.append((name, is_dir))
        return names

    def close(self) -> None:
        """End the SFTP session."""
        self._client.exit()
