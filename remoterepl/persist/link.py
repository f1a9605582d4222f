"""One attachment to a session's holder: the holder's relay on a channel of one SSH
connection, frames both ways. A persisted session goes through many links, one per
connection it had."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

from remoterepl.errors import RemoteReplError
from remoterepl.outcome import describe_end
from remoterepl.persist import holder
from remoterepl.persist.launch import HOLDER_FAILED, NO_PYTHON, holder_command
from remoterepl.ssh.channel import OutputStream, ProcessChannel
from remoterepl.ssh.connection import Connection

READ_SIZE = 256 * 1024
FRAME_DATA = 256 * 1024  # input split into frames of at most this much
WELCOME_TIMEOUT = 30.0  # seconds for the holder to answer HELLO (it may start python3 first)


class HolderError(RemoteReplError):
    """The holder refused, or could not run (no python3, an unusable directory...)."""


class NoPython(HolderError):
    """The host has no python3 to run the holder with."""


class TakenOver(HolderError):
    """A resume refused: another client attached since this one last had the session."""


class GoneSession(HolderError):
    """A reconnect found no session of that name: its holder ended while the link was down."""


class HolderLink:
    """Frames to and from the holder over one channel."""

    def __init__(self, connection: Connection, channel: ProcessChannel) -> None:
        self.connection = connection
        self._channel = channel
        self._reader = holder.FrameReader()
        self._pending: list[tuple[bytes, bytes]] = []

    @classmethod
    async def open(
        cls, connection: Connection, name: str, hello: dict[str, Any]
    ) -> tuple[HolderLink, dict[str, Any]]:
        """Attach to session ``name`` (created from ``hello`` unless it lives); the link
        and the holder's WELCOME. Raises HolderError, or OSError for a lost connection."""
        channel = await connection.open_process(holder_command("attach", name), None)
        link = cls(connection, channel)
        try:
            link.send(holder.HELLO, json.dumps(hello).encode())
            answer = await asyncio.wait_for(link.next_frame(), WELCOME_TIMEOUT)
        except asyncio.TimeoutError:
            link.close()
            raise HolderError(
                f"the session holder did not answer in {WELCOME_TIMEOUT:.0f}s"
            ) from None
        except BaseException:
            link.close()
            raise
        if answer is None:
            raise await link._failure(name)
        kind, payload = answer
        if kind == holder.ERROR:
            link.close()
            problem = json.loads(payload)
            if problem.get("error") == "gone":
                raise GoneSession(f"session {name} has ended")
            if problem.get("error") == "taken":
                raise TakenOver(f"session {name} was taken over by another client")
            if problem.get("error") == "version":
                raise HolderError(
                    f"session {name} is held by another remoterepl version "
                    f"({problem.get('message')}): attach with that version, or end it with "
                    f"--kill-session {name}"
                )
            raise HolderError(f"session holder: {problem.get('message', 'refused')}")
        if kind != holder.WELCOME:
            link.close()
            raise HolderError(f"session holder: unexpected answer {kind!r}")
        welcome: dict[str, Any] = json.loads(payload)
        if welcome.get("v") != holder.PROTOCOL:
            link.close()
            raise HolderError(
                f"session {name} is held by holder version {welcome.get('v')}; this "
                f"remoterepl speaks {holder.PROTOCOL}: use that version, or --kill-session"
            )
        return link, welcome

    async def _failure(self, name: str) -> Exception:
        """Why the channel ended before WELCOME."""
        # The output's EOF may come before the exit status: wait for the channel's close.
        with contextlib.suppress(asyncio.TimeoutError, OSError):
            await asyncio.wait_for(self._channel.wait_closed(), WELCOME_TIMEOUT)
        status = self._channel.end
        if status is None:  # the connection went away
            return self.connection.lost_error()
        message = (await self._channel.stderr.read(4096)).decode("utf-8", "replace").strip()
        if getattr(status, "status", None) == NO_PYTHON:
            return NoPython("persistent sessions need python3 on the remote host, and it has none")
        last = message.splitlines()[-1] if message else ""  # a traceback's last line says it
        if getattr(status, "status", None) in HOLDER_FAILED and last:
            return HolderError(last.removeprefix("remoterepl-holder: "))
        return HolderError(
            f"the session holder failed ({describe_end(status)})" + (f": {last}" if last else "")
        )

    def send(self, kind: bytes, payload: bytes = b"") -> None:
        """One frame (OSError once the channel is gone)."""
        self._channel.write(holder.frame(kind, payload))

    def send_data(self, data: bytes, *, secret: bool = False) -> None:
        """Input as DATA frames."""
        for chunk in _chunks(data, FRAME_DATA):
            self._channel.write(holder.frame(holder.DATA, chunk), secret=secret)

    async def drain(self) -> None:
        """Wait until the channel lets queued frames out."""
        await self._channel.drain()

    def queued(self) -> int:
        """Bytes of frames the channel has not sent yet."""
        return self._channel.queued_input()

    async def next_frame(self) -> tuple[bytes, bytes] | None:
        """The next frame from the holder; None once the link has ended."""
        while not self._pending:
            data = await self._channel.stdout.read(READ_SIZE)
            if not data:
                return None
            self._pending = self._reader.feed(data)
            self._pending.reverse()
        return self._pending.pop()

    def close(self) -> None:
        """Drop the link (the holder sees its client gone; the session goes on)."""
        with contextlib.suppress(OSError):
            self._channel.close()


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), size):
        yield bytes(view[start : start + size])


async def run_holder(connection: Connection, *args: str) -> tuple[int, str]:
    """Run a holder subcommand (``list``, ``kill NAME``): its exit status and stdout.
    HolderError for a host without python3 or the holder's own refusal."""
    channel = await connection.open_process(holder_command(*args), None)
    channel.write_eof()
    out, err = await asyncio.gather(_read_all(channel.stdout), _read_all(channel.stderr))
    await channel.wait_closed()
    end = channel.end
    status = getattr(end, "status", None)
    if status is None:
        raise (
            connection.lost_error()
            if end is None
            else HolderError(f"the session holder failed ({describe_end(end)})")
        )
    if status == NO_PYTHON:
        raise NoPython("persistent sessions need python3 on the remote host, and it has none")
    message = err.decode("utf-8", "replace").strip()
    if status in HOLDER_FAILED:
        last = message.splitlines()[-1] if message else f"exit status {status}"
        raise HolderError(last.removeprefix("remoterepl-holder: "))
    return status, out.decode("utf-8", "replace")


async def _read_all(stream: OutputStream) -> bytes:
    parts = []
    while data := await stream.read(READ_SIZE):
        parts.append(data)
    return b"".join(parts)
