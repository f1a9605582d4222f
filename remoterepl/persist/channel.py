"""The channel of a persisted session: it outlives its links. Input is kept until the
holder acknowledges it and output is counted as it arrives, so that after a lost link the
next one resumes from the last byte each side has: nothing lost, nothing doubled (as
Eternal Terminal's BackedReader/BackedWriter)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from typing import IO, Any

from remoterepl.errors import (
    AuthenticationFailed,
    ChannelClosed,
    HostKeyError,
    RemoteReplError,
    UsageError,
)
from remoterepl.outcome import RemoteExited, RemoteKilled
from remoterepl.persist import holder
from remoterepl.persist.link import GoneSession, HolderError, HolderLink, TakenOver
from remoterepl.persist.redirect import copy_out
from remoterepl.persist.streams import HeldStream
from remoterepl.session.ttywatch import TtyMode
from remoterepl.ssh.channel import PtyRequest
from remoterepl.ssh.connection import Connection

ACK_EVERY = 64 * 1024  # output bytes read between two acknowledgements
DRAIN_BELOW = 256 * 1024  # unacknowledged input below which a writer may go on
LEAVE_TIMEOUT = 1.0  # seconds for the holder to end a link we detached from

Reconnect = Callable[[], Awaitable[Connection]]
# Failures to reconnect that waiting does not mend (a password login under the editor,
# which asks nothing while reconnecting; a changed host key; a config now broken).
FINAL = (AuthenticationFailed, HostKeyError, UsageError)


class PersistentChannel:
    """Session NAME's process, through the holder, over whichever link is up."""

    def __init__(
        self, name: str, hello: dict[str, Any], reconnect: Reconnect, reconnect_for: float
    ) -> None:
        self.name = name
        self._hello = hello
        self._reconnect = reconnect
        self._reconnect_for = reconnect_for
        self._client = os.urandom(8).hex()
        self.link: HolderLink | None = None
        self.welcome: dict[str, Any] = {}
        self.stdout = HeldStream(self._read_happened)
        self.stderr = HeldStream(self._read_happened)
        self._acked = (0, 0)
        self._unacked = bytearray()  # input from offset _in_acked, not yet acknowledged
        self._in_acked = 0
        self._eof = False
        terminal = hello.get("pty")  # this client's window: sent with every attach
        self._size: tuple[int, int] | None = (
            (terminal["cols"], terminal["rows"]) if terminal else None
        )
        self._progress = asyncio.Event()  # input acknowledged, or a link is up again
        self._done = asyncio.Event()
        self._copies: list[asyncio.Task[None]] = []
        self.end: RemoteExited | RemoteKilled | None = None
        self.ended_why: str | None = None  # "taken", "detached", or why reconnecting gave up
        self.tty_report: Callable[[TtyMode | None], None] | None = None
        self.tty_mode: TtyMode | None = None
        self.on_lost: Callable[[str], None] = lambda _why: None
        self.on_back: Callable[[], None] = lambda: None
        self.on_gap: Callable[[str, int], None] = lambda _stream, _lost: None
        self._collected = False  # COLLECTED went out on a live link
        self.exit_seen = False  # the holder said the process ended
        self.gone = False  # ... or that the session is no more
        self._token: str | None = None  # the holder's for our attachment: a resume shows it
        self._serving: asyncio.Task[None] | None = None

    # -- links -------------------------------------------------------------------------

    async def attach(self, connection: Connection) -> None:
        """The first link: creates the session or reattaches (HolderError, OSError)."""
        await self._attach(connection, first=True)
        self._serving = asyncio.get_running_loop().create_task(self._serve())

    async def _attach(self, connection: Connection, *, first: bool) -> None:
        hello = dict(self._hello, v=holder.PROTOCOL, client=self._client)
        if first:  # a new client: the holder replays all it holds
            hello.update(out=None, err=None)
        else:
            hello.update(
                out=self.stdout.received, err=self.stderr.received, create=False, token=self._token
            )
        link, welcome = await HolderLink.open(connection, self.name, hello)
        self._token = welcome.get("token")
        if first:
            self.welcome = welcome
            self.stdout.start_at(int(welcome.get("out", 0)))
            self.stderr.start_at(int(welcome.get("err", 0)))
            self._acked = (self.stdout.consumed, self.stderr.consumed)
        accepted = int(welcome.get("in", 0))
        done = accepted - self._in_acked
        if 0 <= done <= len(self._unacked):
            del self._unacked[:done]
            self._in_acked = accepted
        self.link = link
        try:
            if self._unacked:
                link.send_data(bytes(self._unacked))
            if self._eof:
                link.send(holder.EOF)
            if self._size is not None:
                link.send(holder.WINCH, holder.WINCH_PAYLOAD.pack(*self._size))
            if self.exit_seen:  # the output was all read while the link was down
                self._collect_when_read()
        except OSError:
            pass  # lost again at once: the serving loop sees it
        self._progress.set()

    async def _serve(self) -> None:
        """Take frames from each link in turn until the session is over for us."""
        try:
            while True:
                link = self.link
                assert link is not None
                why = await self._take_frames(link)
                link.close()
                if self._done.is_set():
                    return
                self.link = None
                self._set_tty(None)
                if not await self._reattach(why, link.connection):
                    return
        finally:
            self._finish(self.ended_why or "lost")

    async def _take_frames(self, link: HolderLink) -> str:
        """Frames until the link ends; the reason it ended, in words."""
        while True:
            try:
                frame = await link.next_frame()
            except (OSError, ValueError) as exc:
                return str(exc) or type(exc).__name__
            if frame is None:
                return str(link.connection.lost_error())
            kind, payload = frame
            if kind == holder.OUT:
                self.stdout.feed(payload)
            elif kind == holder.ERR:
                self.stderr.feed(payload)
            elif kind == holder.INACK:
                self._input_acknowledged(holder.INACK_PAYLOAD.unpack(payload)[0])
            elif kind == holder.TTY:
                self._set_tty(TtyMode.parse(payload.decode("ascii", "replace")))
            elif kind == holder.GAP:
                stream, lost = holder.GAP_PAYLOAD.unpack(payload)
                (self.stderr if stream else self.stdout).skip(lost)
                self.on_gap("stderr" if stream else "output", lost)
            elif kind == holder.EXIT:
                self._exited(json.loads(payload))
            elif kind == holder.TAKEN:
                self.ended_why = "taken"
                self._finish("taken")
                return "taken"

    async def _reattach(self, why: str, old: Connection) -> bool:
        """After a lost link: reconnect with back-off until it works or time is up (first
        on the same connection, if only the holder's channel went away)."""
        self.on_lost(why)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._reconnect_for
        delay = 0.25
        same: Connection | None = None if old.lost else old
        if same is None:
            old.close()
        while loop.time() < deadline and not self._done.is_set():
            try:
                if same is not None:  # only the holder's channel ended: try it again
                    connection, same = same, None
                else:
                    connection = await asyncio.wait_for(
                        self._reconnect(), max(1.0, deadline - loop.time())
                    )
            except FINAL as exc:  # trying again would not help: tell now
                self.ended_why = f"cannot reconnect: {exc}"
                return False
            except (RemoteReplError, OSError, asyncio.TimeoutError) as exc:
                why = str(exc) or type(exc).__name__
            else:
                if self._done.is_set():  # e.g. everything was read meanwhile: no takeover
                    connection.close()
                    return False
                try:
                    await self._attach(connection, first=False)
                except TakenOver:
                    connection.close()
                    self.ended_why = "taken"
                    return False
                except GoneSession as exc:
                    connection.close()
                    self.ended_why = str(exc)
                    self.gone = True
                    return False
                except (RemoteReplError, OSError, asyncio.TimeoutError) as exc:
                    connection.close()
                    why = str(exc) or type(exc).__name__
                else:
                    self.on_back()
                    return True
            await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
            delay = min(delay * 2, 5.0)
        if self.ended_why is None:
            self.ended_why = f"gave up reconnecting: {why}"
        return False

    # -- input -------------------------------------------------------------------------

    def write(self, data: bytes, *, secret: bool = False) -> None:
        """Input, kept until the holder has it (sent at once while a link is up)."""
        if self._eof or self._done.is_set():
            raise ChannelClosed("the session takes no more input")
        self._unacked += data
        link = self.link
        if link is not None:
            with contextlib.suppress(OSError):  # lost: resent on the next link
                link.send_data(data, secret=secret)

    def _input_acknowledged(self, total: int) -> None:
        done = total - self._in_acked
        if 0 < done <= len(self._unacked):
            del self._unacked[:done]
            self._in_acked = total
        self._progress.set()

    async def drain(self) -> None:
        """Wait while a link is down or much input is unacknowledged."""
        while not self._done.is_set() and (self.link is None or self.queued_input() > DRAIN_BELOW):
            self._progress.clear()
            await self._progress.wait()
        if self._done.is_set():
            raise ChannelClosed("the session takes no more input")
        link = self.link
        if link is not None:
            with contextlib.suppress(OSError):
                await link.drain()

    def write_eof(self) -> None:
        """The end of input (pipe sessions), kept for the next link too."""
        if not self._eof and not self._done.is_set():
            self._eof = True
            self._send(holder.EOF)

    def queued_input(self) -> int:
        """Input the holder has not acknowledged."""
        return len(self._unacked)

    # -- requests ----------------------------------------------------------------------

    def _send(self, kind: bytes, payload: bytes = b"") -> None:
        link = self.link
        if link is None:
            raise ChannelClosed("the link is down")
        with contextlib.suppress(OSError):
            link.send(kind, payload)

    def send_signal(self, name: str) -> None:
        """Through the holder: the foreground job of its terminal, else the process group."""
        self._send(holder.SIGNAL, name.encode("ascii"))

    def send_break(self, milliseconds: int) -> None:
        """As sshd does with a PTY: SIGINT."""
        self.send_signal("INT")

    def resize(self, columns: int, rows: int) -> None:
        """The holder's terminal takes the new size (again on the next link)."""
        self._size = (columns, rows)
        with contextlib.suppress(ChannelClosed):
            self._send(holder.WINCH, holder.WINCH_PAYLOAD.pack(columns, rows))

    # -- output and end ----------------------------------------------------------------

    def _read_happened(self) -> None:
        out, err = self.stdout.consumed, self.stderr.consumed
        if out + err - sum(self._acked) >= ACK_EVERY:
            self._acked = (out, err)
            with contextlib.suppress(ChannelClosed):
                self._send(holder.ACK, holder.ACK_PAYLOAD.pack(out, err))
        self._collect_when_read()

    def _exited(self, status: dict[str, Any]) -> None:
        self.exit_seen = True
        if status.get("signal"):
            self.end = RemoteKilled(str(status["signal"]), bool(status.get("core")), "")
        elif isinstance(status.get("status"), int):
            self.end = RemoteExited(status["status"])
        else:  # the holder could not learn it: never taken for success
            self.ended_why = "the session's process ended, but its exit status is unknown"
        self.stdout.end()
        self.stderr.end()
        self._collect_when_read()

    def _collect_when_read(self) -> None:
        """Once the output of an ended process was read, the holder may go."""
        if not self.exit_seen or self._collected:
            return
        if self.stdout.drained and self.stderr.drained:
            link = self.link
            if link is None:  # sent from the next link's attach, or the holder expires it
                return
            try:
                link.send(holder.COLLECTED)
            except OSError:
                return
            self._collected = True
            self._finish("exited")

    def _set_tty(self, mode: TtyMode | None) -> None:
        self.tty_mode = mode
        if self.tty_report is not None:
            self.tty_report(mode)

    async def redirect_output(
        self, stdout: IO[bytes], stderr: IO[bytes], *, bufsize: int, close_at_eof: bool
    ) -> None:
        """Copy both streams into these files (closed at the end)."""
        del close_at_eof  # the holder sends stderr before it reports the end
        loop = asyncio.get_running_loop()
        self._copies = [
            loop.create_task(copy_out(self.stdout, stdout, bufsize)),
            loop.create_task(copy_out(self.stderr, stderr, bufsize)),
        ]

    def _finish(self, why: str) -> None:
        if self._done.is_set():
            return
        self.ended_why = self.ended_why or why
        self._done.set()
        self._progress.set()
        self.stdout.end()
        self.stderr.end()

    async def wait_closed(self) -> None:
        """Until the session is over for this client and its output was delivered."""
        await self._done.wait()
        if self._copies:
            await asyncio.gather(*self._copies, return_exceptions=True)
        serving = self._serving
        if serving is not None and serving is not asyncio.current_task():
            # After DETACH the holder ends the link itself: what we sent before it (a
            # SIGPIPE for a reader gone) is then surely delivered. Bounded, then cut.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([serving], timeout=LEAVE_TIMEOUT)
            self._drop_link()

    def close(self, *, detach: bool = True) -> None:
        """Leave the session (it goes on on the remote host): with ``detach``, politely
        (the holder closes the link once it has everything sent before), else at once."""
        if not self._done.is_set():
            if detach:
                with contextlib.suppress(ChannelClosed):
                    self._send(holder.DETACH)
            self.ended_why = self.ended_why or "detached"
            self._finish("detached")
        if not detach or self.link is None:
            self._drop_link()

    def _drop_link(self) -> None:
        link = self.link
        if link is not None:
            link.close()
        if self._serving is not None:
            self._serving.cancel()


def hello_for(command: str | None, pty: PtyRequest | None) -> dict[str, Any]:
    """The HELLO fields that create a session (a live one keeps its own)."""
    terminal = None
    if pty is not None:
        terminal = {"term": pty.term_type, "cols": pty.columns, "rows": pty.rows}
    return {"command": command, "pty": terminal}


__all__ = ["HolderError", "PersistentChannel", "hello_for"]
