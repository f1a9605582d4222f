"""CoalescingTransport (remoterepl/ssh/transport.py): one write per event-loop turn.

Unit tests run a real asyncio loop over a real socket pair: the wrapped transport is an
asyncio socket transport behind :class:`Recording`, which notes every ``write()`` it is
given, and the bytes are checked where the peer socket receives them. The last test checks
that a connection opened by :func:`remoterepl.ssh.connection.connect` to the test sshd has the
wrapper installed and sends a whole :meth:`RemoteSession.send` as one write.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import asyncssh
import pytest

from remoterepl.ssh.connection import Connection
from remoterepl.ssh.transport import CoalescingTransport, coalesce_writes, corked
from tests.client_env import ClientEnv

pytestmark = pytest.mark.timeout(60)

PEER_TIMEOUT = 20.0


class Recording:
    """A real transport, with a record of each ``write()`` made to it."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []
        self.closed_after: int | None = None  # how many writes preceded close()
        self.aborted_after: int | None = None  # ... abort()
        self.eof_after: int | None = None  # ... write_eof()

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)

    def close(self) -> None:
        self.closed_after = len(self.writes)
        self.transport.close()

    def abort(self) -> None:
        self.aborted_after = len(self.writes)
        self.transport.abort()

    def write_eof(self) -> None:
        self.eof_after = len(self.writes)
        self.transport.write_eof()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def get_write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)  # the rest, unrecorded


@dataclass
class Pair:
    """A CoalescingTransport over a recorded socket transport, and the socket it talks to."""

    coalescing: CoalescingTransport
    recording: Recording
    peer: socket.socket
    loop: asyncio.AbstractEventLoop

    async def receive(self, size: int) -> bytes:
        """Read from the peer until *size* bytes arrived (or EOF, or a generous timeout)."""
        got = bytearray()

        async def read() -> None:
            while len(got) < size:
                chunk = await self.loop.sock_recv(self.peer, 1 << 16)
                if not chunk:
                    return
                got.extend(chunk)

        await asyncio.wait_for(read(), PEER_TIMEOUT)
        return bytes(got)

    async def receive_to_eof(self) -> bytes:
        """Read from the peer until the other side has closed."""
        return await self.receive(1 << 62)


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    loop = asyncio.get_running_loop()
    ours, peer = socket.socketpair()
    peer.setblocking(False)
    transport, _protocol = await loop.create_connection(asyncio.Protocol, sock=ours)
    recording = Recording(transport)
    try:
        yield Pair(CoalescingTransport(recording, loop), recording, peer, loop)
    finally:
        transport.abort()
        peer.close()
        await asyncio.sleep(0)  # let the transport finish closing its socket


async def next_turn() -> None:
    """Let the loop run what is already scheduled (call_soon callbacks run in order)."""
    await asyncio.sleep(0)


# --------------------------------------------------------------------------- coalescing


async def test_writes_in_one_turn_become_one_write(pair: Pair) -> None:
    """Several writes in one loop turn reach the wrapped transport as ONE write, with the
    same bytes in the same order, at the end of that turn (not before)."""
    parts = [b"SSH-packet-1|", b"ignore|", b"", b"SSH-packet-2|", bytes(range(256))]
    for part in parts:
        pair.coalescing.write(part)
    assert pair.recording.writes == []  # nothing sent within the turn
    await next_turn()
    expected = b"".join(parts)
    assert pair.recording.writes == [expected]
    assert await pair.receive(len(expected)) == expected


async def test_writes_in_separate_turns_are_not_held_back(pair: Pair) -> None:
    """Each turn's writes go out at that turn's end: no waiting for more data."""
    pair.coalescing.write(b"first")
    await next_turn()
    assert pair.recording.writes == [b"first"]
    assert await pair.receive(5) == b"first"
    pair.coalescing.write(b"sec")
    pair.coalescing.write(b"ond")
    await next_turn()
    assert pair.recording.writes == [b"first", b"second"]
    assert await pair.receive(6) == b"second"


async def test_a_single_write_is_passed_as_is(pair: Pair) -> None:
    """One write in a turn is handed on unchanged (no copy needed), large ones included."""
    data = bytes(range(256)) * 4096  # 1 MiB: more than the socket takes at once
    pair.coalescing.write(data)
    await next_turn()
    assert pair.recording.writes == [data]
    assert await pair.receive(len(data)) == data


# --------------------------------------------------------------------------- corked


async def test_corked_block_flushes_at_its_end_without_the_loop(pair: Pair) -> None:
    """Inside ``corked()`` writes are held; they go out as one write the moment the block
    ends, synchronously (no loop turn in between)."""
    with pair.coalescing.corked():
        pair.coalescing.write(b"line ")
        pair.coalescing.write(b"of ")
        assert pair.recording.writes == []
        pair.coalescing.write(b"input\n")
        assert pair.recording.writes == []
    assert pair.recording.writes == [b"line of input\n"]
    await next_turn()
    assert pair.recording.writes == [b"line of input\n"]  # no second (empty) write
    assert await pair.receive(14) == b"line of input\n"


async def test_corked_is_reentrant(pair: Pair) -> None:
    """A nested ``corked()`` leaves the flush to the outermost block."""
    with pair.coalescing.corked():
        pair.coalescing.write(b"a")
        with pair.coalescing.corked():
            pair.coalescing.write(b"b")
        assert pair.recording.writes == []
        pair.coalescing.write(b"c")
    assert pair.recording.writes == [b"abc"]
    assert await pair.receive(3) == b"abc"


async def test_corked_flushes_when_the_block_raises(pair: Pair) -> None:
    """What the block wrote before an exception is still sent, and corking ends."""
    with pytest.raises(RuntimeError), pair.coalescing.corked():
        pair.coalescing.write(b"partial")
        raise RuntimeError("boom")
    assert pair.recording.writes == [b"partial"]
    pair.coalescing.write(b"-after")  # not corked any more: flushed by the loop
    assert pair.recording.writes == [b"partial"]
    await next_turn()
    assert pair.recording.writes == [b"partial", b"-after"]
    assert await pair.receive(13) == b"partial-after"


async def test_corked_after_earlier_writes_in_the_turn_keeps_order(pair: Pair) -> None:
    """When the turn already has writes queued, a corked block sends them with its own at
    its end, in write order; later writes wait for the end of the turn as usual."""
    pair.coalescing.write(b"1")
    with pair.coalescing.corked():
        pair.coalescing.write(b"2")
    assert pair.recording.writes == [b"12"]
    pair.coalescing.write(b"3")
    await next_turn()
    assert pair.recording.writes == [b"12", b"3"]
    assert await pair.receive(3) == b"123"


# --------------------------------------------------------------------------- close, sizes


async def test_close_sends_queued_bytes_first(pair: Pair) -> None:
    """close() in the same turn as the writes: the peer still gets every byte, then EOF."""
    data = b"disconnect message" * 1000
    pair.coalescing.write(data[:7])
    pair.coalescing.write(data[7:])
    pair.coalescing.close()
    assert pair.recording.writes == [data]
    assert pair.recording.closed_after == 1  # the write came before close()
    assert pair.coalescing.is_closing()
    assert await pair.receive_to_eof() == data
    await next_turn()  # the flush scheduled by the first write finds nothing left
    assert pair.recording.writes == [data]


async def test_abort_sends_queued_bytes_first(pair: Pair) -> None:
    """asyncssh writes its disconnect message and aborts right after: it must leave first."""
    pair.coalescing.write(b"last ")
    pair.coalescing.write(b"words")
    pair.coalescing.abort()
    assert (pair.recording.writes, pair.recording.aborted_after) == ([b"last words"], 1)
    assert await pair.receive_to_eof() == b"last words"


async def test_write_eof_sends_queued_bytes_first(pair: Pair) -> None:
    pair.coalescing.write(b"all ")
    pair.coalescing.writelines([b"of ", b"it"])
    pair.coalescing.write_eof()
    assert (pair.recording.writes, pair.recording.eof_after) == ([b"all of it"], 1)
    assert await pair.receive_to_eof() == b"all of it"


async def test_writes_after_close_are_dropped(pair: Pair) -> None:
    """Bytes queued once the wrapped transport is closing are not written to it."""
    pair.coalescing.close()
    pair.coalescing.write(b"late")
    await next_turn()
    assert pair.recording.writes == []
    assert await pair.receive_to_eof() == b""


async def test_write_buffer_size_counts_queued_bytes(pair: Pair) -> None:
    """get_write_buffer_size() is the wrapped transport's buffer plus what is queued."""
    assert pair.coalescing.get_write_buffer_size() == 0
    pair.coalescing.write(b"12345")
    pair.coalescing.write(b"678")
    assert pair.coalescing.get_write_buffer_size() == 8
    await next_turn()
    assert pair.coalescing.get_write_buffer_size() == pair.recording.get_write_buffer_size()

    # Fill the socket (the peer does not read): the real transport now buffers.
    big = b"x" * (16 * 1024 * 1024)
    pair.coalescing.write(big)
    await next_turn()
    buffered = pair.recording.get_write_buffer_size()
    assert buffered > 0
    pair.coalescing.write(b"queued")
    assert pair.coalescing.get_write_buffer_size() == buffered + 6
    await next_turn()
    received = await pair.receive(8 + len(big) + 6)
    assert received == b"12345678" + big + b"queued"


async def test_other_attributes_are_the_wrapped_transports(pair: Pair) -> None:
    """Anything else (extra info, is_closing) is answered by the wrapped transport."""
    sock = pair.coalescing.get_extra_info("socket")
    assert sock is not None
    assert sock is pair.recording.get_extra_info("socket")
    assert pair.coalescing.get_extra_info("no-such-key", "dflt") == "dflt"
    assert pair.coalescing.is_closing() is False
    with pytest.raises(AttributeError):
        pair.coalescing.no_such_method()


# --------------------------------------------------------------------------- installing


async def test_coalesce_writes_installs_once(pair: Pair) -> None:
    """coalesce_writes wraps a connection's ``_transport``; calling it again keeps the one
    wrapper (no wrapper around a wrapper)."""
    conn = SimpleNamespace(_transport=pair.recording)
    coalesce_writes(conn)
    installed = conn._transport
    assert isinstance(installed, CoalescingTransport)
    assert installed._transport is pair.recording
    coalesce_writes(conn)
    assert conn._transport is installed

    with corked(conn):
        conn._transport.write(b"via ")
        conn._transport.write(b"corked(conn)")
        assert pair.recording.writes == []
    assert pair.recording.writes == [b"via corked(conn)"]
    assert await pair.receive(16) == b"via corked(conn)"


class NotATransport:
    """Has write() but not the rest of what a transport offers."""

    def write(self, data: bytes) -> None:
        raise AssertionError("must not be wrapped")


@pytest.mark.parametrize(
    "conn",
    [
        pytest.param(object(), id="no-_transport"),
        pytest.param(SimpleNamespace(_transport=None), id="_transport-None"),
        pytest.param(SimpleNamespace(_transport=NotATransport()), id="_transport-incomplete"),
    ],
)
async def test_coalesce_writes_leaves_unsuitable_objects_alone(conn: object) -> None:
    """Without a usable ``_transport`` nothing is changed, and corked() is a no-op."""
    before = getattr(conn, "_transport", "missing")
    coalesce_writes(conn)
    assert getattr(conn, "_transport", "missing") is before
    with corked(conn):
        pass


def test_corked_of_a_plain_object_is_a_null_context() -> None:
    """corked() needs no event loop for a connection that does not coalesce."""
    with corked(SimpleNamespace(_transport=None)) as value:
        assert value is None


# --------------------------------------------------------------------------- end to end


async def test_remoterepl_connection_coalesces(client_home: ClientEnv) -> None:
    """A connection from remoterepl.ssh.connect has the wrapper installed, and a
    RemoteSession.send of many SSH packets leaves as one write to the socket transport."""
    from remoterepl.environment import Console
    from remoterepl.outcome import RemoteExited
    from remoterepl.session.process import RemoteSession
    from remoterepl.settings import ConnectSettings, Target
    from remoterepl.ssh import compat
    from remoterepl.ssh.connect import open_connection

    settings = ConnectSettings(
        target=Target(client_home.user_alias), config_file=str(client_home.config_path), quiet=True
    )
    connection = await open_connection(settings, Console(None))
    try:
        transport = compat.get_transport(connection._conn)
        assert isinstance(transport, CoalescingTransport)
        session = await RemoteSession.open(connection, "wc -c", None)
        # Idle for a moment: the server sends nothing before our input, so no flush from
        # an earlier write is pending when send() runs.
        await asyncio.sleep(0.3)
        recording = Recording(transport._transport)  # type: ignore[arg-type]
        transport._transport = recording
        packets: list[int] = []
        real_write = transport.write

        def counting_write(data: bytes) -> None:
            packets.append(len(data))
            real_write(data)

        transport.write = counting_write  # type: ignore[method-assign]
        data = b"z" * 200_000  # several SSH packets (32 KiB each at most), within the window
        session.send(data)
        assert len(packets) > len(data) // 32768  # several packets (AEAD cipher: no IGNOREs)
        assert len(recording.writes) == 1  # ...all in one write, made when send() returned
        assert len(recording.writes[0]) == sum(packets) > len(data)
        session.send_eof()
        output = b""
        while chunk := await asyncio.wait_for(session.stdout.read(65536), 30):
            output += chunk
        await asyncio.wait_for(session.wait(), 30)
        assert output.strip() == str(len(data)).encode()
        assert session.outcome() == RemoteExited(0)
    finally:
        connection.close()
        await asyncio.wait_for(connection.wait_closed(), 30)


async def test_closing_through_a_jump_host_sends_the_goodbye() -> None:
    """Connection.close() closes the destination, then the hop its tunnel runs through, in
    one turn: the destination's disconnect message must leave before the tunnel closes, so
    the server sees a clean disconnect (not a dropped connection). In-process asyncssh
    servers on loopback; no ssh_config, agent or keys of the user's."""
    lost: dict[str, BaseException | None] = {}

    class Server(asyncssh.SSHServer):
        def __init__(self, name: str) -> None:
            self.name = name

        def begin_auth(self, username: str) -> bool:
            return False  # no authentication needed

        def connection_requested(
            self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
        ) -> bool:
            return True  # let the hop forward to the destination

        def connection_lost(self, exc: BaseException | None) -> None:
            lost[self.name] = exc

    class Client(asyncssh.SSHClient):
        def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
            coalesce_writes(conn)

    key = asyncssh.generate_private_key("ssh-ed25519")
    servers = [
        await asyncssh.create_server(
            lambda name=name: Server(name), "127.0.0.1", 0, server_host_keys=[key]
        )
        for name in ("jump", "dest")
    ]
    jump_port, dest_port = (server.sockets[0].getsockname()[1] for server in servers)
    options: dict[str, Any] = {
        "known_hosts": None,
        "username": "u",
        "config": None,
        "agent_path": None,
        "client_keys": None,
        "client_factory": Client,
    }
    try:
        hop = await asyncssh.connect("127.0.0.1", jump_port, **options)
        conn = await asyncssh.connect("127.0.0.1", dest_port, tunnel=hop, **options)
        assert isinstance(getattr(conn, "_transport", None), CoalescingTransport)
        connection = Connection(conn, cast(Any, None), [(hop, cast(Any, None))])
        connection.close()
        await asyncio.wait_for(connection.wait_closed(), 10)
        for _ in range(200):
            if "dest" in lost and "jump" in lost:
                break
            await asyncio.sleep(0.02)
        assert lost == {"jump": None, "dest": None}  # both told goodbye, neither dropped
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()
