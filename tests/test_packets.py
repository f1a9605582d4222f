"""Fewer packets (remoterepl/ssh/compat.py): asyncssh's per-packet SSH_MSG_IGNORE only with
CBC ciphers, packet log lines only at debug level 3, a keepalive deadline instead of a timer
re-armed per read.

Packets are counted where asyncssh encrypts them (``SSHConnection.send_packet``, wrapped
at class level before the connection exists, so compat's per-connection filter sits in
front of the count) and where they leave (``write()`` calls on the connection's transport:
asyncssh writes each packet separately). The sentinel test fails when asyncssh's own send
path changes, so that compat is revisited.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import logging
import os
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import asyncssh
import pytest
from asyncssh.connection import SSHConnection
from asyncssh.constants import MSG_CHANNEL_DATA, MSG_GLOBAL_REQUEST, MSG_IGNORE

from remoterepl.embedded import start_server
from remoterepl.environment import Console
from remoterepl.session.process import RemoteSession
from remoterepl.settings import ConnectSettings, Target
from remoterepl.ssh import compat
from remoterepl.ssh.connect import open_connection
from remoterepl.ssh.connection import Connection
from tests.client import run_remoterepl
from tests.client_env import ClientEnv, ClientEnvFactory
from tests.sshd import SshdFactory

pytestmark = pytest.mark.timeout(90)

TIMEOUT = 20.0
LINE = b"1+1 one line\n"


@dataclass
class Sent:
    """The packet types each connection encrypted (by ``id(conn)``), in order."""

    types: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    seen: dict[int, asyncio.Event] = field(default_factory=dict)  # by packet type

    def of(self, conn: object) -> list[int]:
        return self.types[id(conn)]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    record = Sent()
    original = SSHConnection.send_packet

    def counting(self: SSHConnection, pkttype: int, *args: bytes, **kwargs: object) -> None:
        original(self, pkttype, *args, **kwargs)  # type: ignore[arg-type]
        record.types[id(self)].append(pkttype)  # once sent: an IGNORE before its packet
        if pkttype in record.seen:
            record.seen[pkttype].set()

    monkeypatch.setattr(SSHConnection, "send_packet", counting)
    return record


def _count_writes(conn: object) -> list[int]:
    """Sizes of the packets handed to ``conn``'s transport from now on."""
    transport = compat.get_transport(conn)
    writes: list[int] = []
    real_write = transport.write

    def write(data: bytes) -> None:
        writes.append(len(data))
        real_write(data)

    transport.write = write
    return writes


@contextlib.asynccontextmanager
async def _session(
    env: ClientEnv, monkeypatch: pytest.MonkeyPatch, *options: tuple[str, str]
) -> AsyncIterator[tuple[Connection, RemoteSession]]:
    """remoterepl's own connection (in-process, ``env``'s HOME, no agent) and ``cat``."""
    for name, value in env.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    settings = ConnectSettings(
        target=Target(env.user_alias),
        config_file=str(env.config_path),
        options=options,
        quiet=True,
    )
    connection = await open_connection(settings, Console(None))
    try:
        session = await RemoteSession.open(connection, "cat", None)
        yield connection, session
        session.send_eof()
        await asyncio.wait_for(session.wait(), TIMEOUT)
    finally:
        connection.close()


async def _echoed(session: RemoteSession, data: bytes) -> None:
    """Send ``data`` to the remote ``cat`` and wait until all of it came back."""
    session.send(data)
    got = b""
    while len(got) < len(data):
        got += await asyncio.wait_for(session.stdout.read(1 << 20), TIMEOUT)
    assert got == data


async def _line_round_trip(
    session: RemoteSession, types: list[int], writes: list[int]
) -> tuple[list[int], int]:
    """One line out and back: the packet types encrypted and the transport writes."""
    types_before, writes_before = len(types), len(writes)
    await _echoed(session, LINE)
    return types[types_before:], len(writes) - writes_before


# -- (a) the sentinel: asyncssh's send path as compat knows it ------------------------------


def test_asyncssh_send_path_is_what_compat_filters() -> None:
    """asyncssh sends its empty SSH_MSG_IGNORE through ``self.send_packet`` (where compat's
    per-connection attribute intercepts it), and records the cipher as ``send_cipher`` in
    ``send_newkeys``. If this fails, asyncssh changed what compat.ignore_packets_only_with_cbc
    relies on: revisit it."""
    source = inspect.getsource(SSHConnection.send_packet)
    assert "self.send_packet(MSG_IGNORE, String(b''))" in source
    assert "send_cipher=" in inspect.getsource(SSHConnection.send_newkeys)
    assert (asyncssh.packet.String(b""),) == compat._EMPTY_STRING


async def test_asyncssh_still_sends_an_ignore_before_each_packet(sent: Sent) -> None:
    """A plain asyncssh connection (no remoterepl) with AES-GCM: a line is an IGNORE and
    the data. If this fails, asyncssh changed its send path: if it no longer sends the
    IGNORE with AEAD ciphers, compat.ignore_packets_only_with_cbc can go."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    async with await start_server([key]) as server:
        conn = await asyncssh.connect(
            server.host, server.port, client_keys=[key], known_hosts=None, config=None,
            agent_path=None, encryption_algs=["aes128-gcm@openssh.com"],
        )  # fmt: skip
        async with conn:
            writer, reader, _stderr = await conn.open_session("cat", encoding=None)
            before = len(sent.of(conn))
            writer.write(LINE)
            assert await asyncio.wait_for(reader.readexactly(len(LINE)), TIMEOUT) == LINE
            assert sent.of(conn)[before:] == [MSG_IGNORE, MSG_CHANNEL_DATA]
            writer.close()


def test_the_decision_follows_every_key_exchange() -> None:
    """compat's filter is set or removed after each send_newkeys, by the cipher then in
    use: a rekey from AES-GCM to CBC brings the IGNORE back, and back to chacha20 drops it."""
    sent: list[tuple[int, tuple[bytes, ...]]] = []
    ciphers = iter(["aes128-gcm@openssh.com", "aes128-cbc", "chacha20-poly1305@openssh.com"])
    current: list[str] = []

    class FakeConnection:
        def send_packet(self, pkttype: int, *args: bytes, handler: object = None) -> None:
            if pkttype > 49:  # asyncssh: an IGNORE before each packet past key exchange
                self.send_packet(MSG_IGNORE, b"\0\0\0\0")
            sent.append((pkttype, args))

        def send_newkeys(self, k: bytes, h: bytes) -> None:
            current[:] = [next(ciphers)]

        def get_extra_info(self, name: str) -> str:
            assert name == "send_cipher"
            return current[0]

    conn = FakeConnection()
    assert compat.ignore_packets_only_with_cbc(conn)
    assert compat.ignore_packets_only_with_cbc(conn)  # idempotent
    for expected in ([94], [2, 94], [94]):
        conn.send_newkeys(b"k", b"h")
        sent.clear()
        conn.send_packet(MSG_CHANNEL_DATA, b"data")
        conn.send_packet(MSG_IGNORE, b"\0\0\0\x01x")  # someone else's IGNORE: kept
        assert [t for t, _ in sent] == [*expected, MSG_IGNORE], current
    assert not compat.ignore_packets_only_with_cbc(SimpleNamespace())  # nothing to wrap


# -- (b) AEAD ciphers: one packet per line, through rekeys, byte-exact -----------------------


@pytest.mark.parametrize(
    "cipher", ["chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]
)
async def test_a_line_is_one_packet_with_aead(
    cipher: str, sent: Sent, embedded_env: ClientEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line to ``cat`` and back: the client sends one packet, not two -- also after
    rekeys (RekeyLimit 64K, 512 KiB echoed byte-exact in between)."""
    newkeys = 0
    original = SSHConnection.send_newkeys

    def counting_newkeys(self: SSHConnection, k: bytes, h: bytes) -> None:
        nonlocal newkeys
        newkeys += 1
        original(self, k, h)

    monkeypatch.setattr(SSHConnection, "send_newkeys", counting_newkeys)
    options = (("Ciphers", cipher), ("RekeyLimit", "64K"))
    async with _session(embedded_env, monkeypatch, *options) as (connection, session):
        conn = connection._conn
        assert conn.get_extra_info("send_cipher") == cipher
        writes = _count_writes(conn)
        assert await _line_round_trip(session, sent.of(conn), writes) == ([MSG_CHANNEL_DATA], 1)
        await _echoed(session, os.urandom(512 * 1024))
        assert newkeys >= 3
        # (a rekey may start with this line: KEXINIT, the line held back, KEX..., NEWKEYS)
        types, _wrote = await _line_round_trip(session, sent.of(conn), writes)
        assert MSG_CHANNEL_DATA in types and MSG_IGNORE not in types
        assert MSG_IGNORE not in sent.of(conn)  # not once, from the first key exchange on


@pytest.mark.parametrize("cipher", ["chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com"])
def test_8_mib_through_pipe_mode_byte_exact(cipher: str, embedded_env: ClientEnv) -> None:
    """8 MiB of random bytes through ``remoterepl HOST sha256sum`` (rekeying every MiB):
    the remote digest is the local one."""
    data = os.urandom(8 << 20)
    proc = run_remoterepl(
        ["-o", f"Ciphers={cipher}", "-o", "RekeyLimit=1M", embedded_env.user_alias, "sha256sum"],
        input=data,
        env=embedded_env.env,
    )
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert proc.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


# -- (c) CBC keeps its IGNORE, with either MAC ----------------------------------------------


@pytest.fixture
def cbc_env(sshd_factory: SshdFactory, client_env_factory: ClientEnvFactory) -> ClientEnv:
    """A real sshd that also accepts aes128-cbc (OpenSSH no longer offers it by default)."""
    server = sshd_factory(extra_config=["Ciphers +aes128-cbc"])
    return client_env_factory(server)


@pytest.mark.parametrize("mac", ["hmac-sha2-256", "hmac-sha2-256-etm@openssh.com"])
async def test_cbc_keeps_the_ignore_before_each_packet(
    mac: str, sent: Sent, cbc_env: ClientEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``-o Ciphers=aes128-cbc`` a line is an IGNORE and the data: two packets."""
    options = (("Ciphers", "aes128-cbc"), ("MACs", mac))
    async with _session(cbc_env, monkeypatch, *options) as (connection, session):
        conn = connection._conn
        assert (conn.get_extra_info("send_cipher"), conn.get_extra_info("send_mac")) == (
            "aes128-cbc",
            mac,
        )
        writes = _count_writes(conn)
        types, wrote = await _line_round_trip(session, sent.of(conn), writes)
        assert (types, wrote) == ([MSG_IGNORE, MSG_CHANNEL_DATA], 2)


# -- the other per-packet costs -------------------------------------------------------------


@contextlib.contextmanager
def _asyncssh_records(debug_level: int) -> Iterator[list[str]]:
    messages: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    from asyncssh.logging import SSHLogger

    parent, handler = logging.getLogger("asyncssh"), Keep()
    old_level, old_debug = parent.level, SSHLogger._debug_level
    parent.addHandler(handler)
    parent.setLevel(logging.DEBUG)
    asyncssh.set_debug_level(debug_level)
    try:
        yield messages
    finally:
        parent.removeHandler(handler)
        parent.setLevel(old_level)
        asyncssh.set_debug_level(old_debug)


async def test_packets_are_logged_at_debug_level_3_only(
    embedded_env: ClientEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-vvvv's packet lines still come (debug level 3); below, none is even built
    (asyncssh.packet's ``plural``, which builds the "N bytes" of each line, is not called)."""
    import asyncssh.packet

    built = 0
    plural = asyncssh.packet.plural  # type: ignore[attr-defined]

    def counting_plural(*args: object) -> str:
        nonlocal built
        built += 1
        return plural(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncssh.packet, "plural", counting_plural)
    async with _session(embedded_env, monkeypatch) as (_connection, session):
        with _asyncssh_records(3) as messages:
            await _echoed(session, LINE)
        assert built and any("Sent MSG_CHANNEL_DATA" in m for m in messages), messages
        built = 0
        with _asyncssh_records(2) as messages:
            await _echoed(session, LINE)
        assert (built, [m for m in messages if "MSG_CHANNEL_DATA" in m]) == (0, [])


async def test_keepalive_waits_for_the_interval_after_the_last_data(
    sent: Sent, embedded_env: ClientEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ServerAliveInterval 1: reads do not re-arm the keepalive timer (the same handle
    after many round trips), and the keepalive goes out a second after the last data in,
    is answered, and the session goes on."""
    sent.seen[MSG_GLOBAL_REQUEST] = asyncio.Event()
    loop = asyncio.get_running_loop()
    async with _session(embedded_env, monkeypatch, ("ServerAliveInterval", "1")) as (
        connection,
        session,
    ):
        conn = connection._conn
        timer = conn._keepalive_timer
        assert timer is not None
        for _ in range(20):
            await _echoed(session, LINE)
        assert conn._keepalive_timer is timer
        last_data = loop.time()
        sent.seen[MSG_GLOBAL_REQUEST].clear()
        await asyncio.wait_for(sent.seen[MSG_GLOBAL_REQUEST].wait(), TIMEOUT)
        assert loop.time() - last_data >= 0.95
        await _echoed(session, LINE)
