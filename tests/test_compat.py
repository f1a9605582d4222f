"""What remoterepl relies on inside its libraries still exists in the installed versions:
every private asyncssh (and stdlib) name of ``remoterepl.ssh.compat``, and the public
prompt_toolkit methods the editor overrides or calls beyond the documented API."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
from pathlib import Path

import asyncssh
import pytest

from remoterepl.embedded import EmbeddedServer, start_server
from remoterepl.ssh import compat


def _resolve(spec: str) -> object:
    module_name, _, attributes = spec.partition(":")
    if not attributes:  # a module that is skipped, not used: it must exist, not import
        return importlib.util.find_spec(module_name)
    found: object = importlib.import_module(module_name)
    for name in filter(None, attributes.split(".")):
        found = getattr(found, name)
    return found


async def _connect(
    server: EmbeddedServer, key: asyncssh.SSHKey, **options: object
) -> asyncssh.SSHClientConnection:
    """A client connection to an in-process test server: this key only, no config, no
    known_hosts, no agent."""
    return await asyncssh.connect(
        server.host,
        server.port,
        client_keys=[key],
        known_hosts=None,
        config=None,
        agent_path=None,
        **options,
    )


@pytest.mark.parametrize("spec", compat.PRIVATE_NAMES)
def test_private_name_exists(spec: str) -> None:
    """Each name listed in compat.PRIVATE_NAMES resolves."""
    assert _resolve(spec) is not None


def test_keypair_constructor_takes_what_compat_passes() -> None:
    """SSHKeyPair.__init__ still takes (algorithm, sig_algorithm, sig_algorithms,
    host_key_algorithms, public_data, comment, cert, filename) in that order."""
    params = list(inspect.signature(asyncssh.SSHKeyPair.__init__).parameters)
    assert params[1:9] == [
        "algorithm",
        "sig_algorithm",
        "sig_algorithms",
        "host_key_algorithms",
        "public_data",
        "comment",
        "cert",
        "filename",
    ], params


def test_config_parsing_through_compat(tmp_path: Path) -> None:
    """A config loads without %-expansion, taught keywords are kept, values expand once,
    and the parsed keywords keep their order (SSHConfig._options)."""
    from asyncssh.config import SSHClientConfig

    try:
        compat.teach_config_keywords({"RemotereplTestKeyword": "string"})  # nothing else uses it
        path = tmp_path / "config"
        path.write_text(
            "Host h\n    ProxyCommand nc %h %p\n    RemotereplTestKeyword ^]\n    Port 2222\n"
        )
        config = compat.load_client_config([str(path)], "me", (), "h", ())
        assert config.get("RemotereplTestKeyword") == "^]"
        raw = str(config.get("ProxyCommand"))
        assert "%h" in raw
        assert compat.expand_config_value(config, raw) == "nc h 2222"
        assert list(compat.config_keywords_in_order(config))[:2] == [
            "ProxyCommand",
            "RemotereplTestKeyword",
        ]
    finally:  # a made-up name: test_keywords checks every parsed keyword is OpenSSH's
        SSHClientConfig._handlers.pop("remotereplTestKeyword".lower(), None)


async def test_connection_transport_and_keepalive() -> None:
    """A live asyncssh connection has the ``_transport`` compat swaps, and answers the
    keepalive request compat sends (in-process embedded server, no sshd)."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    async with await start_server([key]) as server:
        conn = await _connect(server, key)
        async with conn:
            transport = compat.get_transport(conn)
            assert transport is not None and hasattr(transport, "write")
            assert await asyncio.wait_for(compat.keepalive_request(conn), 10) is True


def test_taught_words_lines_and_aliases(tmp_path: Path) -> None:
    """A "words" keyword keeps its first line as a list; a "lines" keyword (LocalForward)
    keeps every line that applies, in order, each as a list (SSHConfig._options); an alias
    (KeepAlive) is stored under the keyword it means (TCPKeepAlive)."""
    from asyncssh.config import SSHClientConfig

    taught = {"RemoteReplTestWords": "words", "RemoteReplTestLines": "lines"}
    try:
        compat.teach_config_keywords(taught)
        compat.teach_config_aliases({"KeepAlive": "TCPKeepAlive", "NoSuchAlias": "NoSuchKeyword"})
        path = tmp_path / "config"
        path.write_text(
            "RemoteReplTestWords 5432 db:5432\nRemoteReplTestWords 1 2\nKeepAlive no\n"
            "Host h\n  RemoteReplTestLines 1 a:1\nHost other\n  RemoteReplTestLines 2 b:2\n"
            "Host *\n  RemoteReplTestLines 3\n"
        )
        config = compat.load_client_config([str(path)], "me", (), "h", ())
        assert config.get("RemoteReplTestWords") == ["5432", "db:5432"]
        assert config.get("RemoteReplTestLines") == [["1", "a:1"], ["3"]]
        assert config.get("TCPKeepAlive") is False
    finally:  # made-up names: test_keywords checks every parsed keyword is OpenSSH's
        for name in taught:
            SSHClientConfig._handlers.pop(name.lower(), None)


def test_packet_log_records_carry_their_packet() -> None:
    """asyncssh's packet logging (debug level 3) puts the packet's bytes in the record,
    where diagnostics looks for a secret line."""
    import logging

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    from asyncssh.logging import SSHLogger, logger

    handler = Keep()
    parent = logging.getLogger("asyncssh")
    parent.addHandler(handler)
    old_level, old_debug = parent.level, SSHLogger._debug_level
    parent.setLevel(logging.DEBUG)
    asyncssh.set_debug_level(3)
    try:
        logger.packet(None, b"payload-bytes", "Sent %s", "MSG_CHANNEL_DATA (94)")
    finally:
        parent.removeHandler(handler)
        parent.setLevel(old_level)
        asyncssh.set_debug_level(old_debug)
    assert [compat.logged_packet(r) for r in records] == [b"payload-bytes"]
    assert compat.logged_packet(logging.LogRecord("x", 10, "", 0, "m", None, None)) is None


async def test_agent_forwarding_can_be_cancelled_on_a_live_connection() -> None:
    """SSHClientConnection._agent_forward_path holds the forwarding choice until the
    session is opened; compat clears it (an untrusted host key)."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    async with await start_server([key]) as server:
        conn = await _connect(server, key, agent_forwarding="/nonexistent/agent.sock")
        async with conn:
            assert conn._agent_forward_path == "/nonexistent/agent.sock"
            assert compat.disable_agent_forwarding(conn)
            assert conn._agent_forward_path is None
    assert not compat.disable_agent_forwarding(object())  # fails closed


async def test_open_forwarded_channels_counts_live_tcp_channels() -> None:
    """SSHConnection._channels holds the open channels: a direct-tcpip one counts while
    open, the session channel never does."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        async with await start_server([key], allow_tcp_forwarding=True) as server:
            conn = await _connect(server, key)
            async with conn:
                process = await conn.create_process("cat")
                assert compat.open_forwarded_channels(conn) == 0
                _reader, writer = await conn.open_connection("127.0.0.1", port)
                assert compat.open_forwarded_channels(conn) == 1
                writer.close()
                for _ in range(100):
                    if not compat.open_forwarded_channels(conn):
                        break
                    await asyncio.sleep(0.05)
                assert compat.open_forwarded_channels(conn) == 0
                process.close()
    finally:
        listener.close()
    assert compat.open_forwarded_channels(object()) == 0  # type: ignore[arg-type]


def test_host_patterns_and_key_algorithms() -> None:
    """HostPatternList matching, default algorithms, and public keys from blobs."""
    assert compat.host_patterns_match("*.example.com,!bad.example.com", "a.example.com")
    assert not compat.host_patterns_match("*.example.com,!bad.example.com", "bad.example.com")
    certificate_algs, public_key_algs = compat.default_host_key_algorithms()
    assert b"ssh-ed25519" in public_key_algs and certificate_algs
    key = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
    assert compat.public_key_from_blob(key.public_data).public_data == key.public_data


def test_ldconfig_probe_exists_on_linux() -> None:
    """ctypes' ldconfig-only library look-up (Linux) finds libc."""
    find = compat.ldconfig_only_find_library()
    assert find is not None
    assert find("c") is not None


def test_prompt_toolkit_what_the_editor_relies_on() -> None:
    """The output device overrides Vt100_Output.get_rows_below_cursor_position and flush,
    sets enable_cpr; the painter calls Renderer.erase(leave_alternate_screen=...)."""
    from prompt_toolkit.output.vt100 import Vt100_Output
    from prompt_toolkit.renderer import Renderer

    for name in ("get_rows_below_cursor_position", "flush", "write_raw", "from_pty"):
        assert callable(getattr(Vt100_Output, name)), name
    assert "enable_cpr" in inspect.signature(Vt100_Output.__init__).parameters
    assert "leave_alternate_screen" in inspect.signature(Renderer.erase).parameters


async def test_receive_window_counts_data_not_yet_delivered() -> None:
    """A reader that pauses the channel after every packet and resumes on the next loop
    turn: with compat's window fix, what waits in the channel's buffer (``_recv_buf``)
    never exceeds the receive window (``_recv_window``, ``_init_recv_window``); asyncssh
    alone let it grow by up to a window per pause (measured: 11 MiB buffered of 32 sent)."""
    compat.window_reopens_only_for_delivered_data()
    key = asyncssh.generate_private_key("ssh-ed25519")
    loop = asyncio.get_running_loop()
    peak = 0
    received = 0

    class Reader(asyncssh.SSHClientSession[bytes]):
        def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:
            self.chan = chan

        def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
            nonlocal peak, received
            received += len(data)
            assert self.chan._recv_window <= self.chan._init_recv_window
            buffered = sum(len(chunk) for chunk, _ in self.chan._recv_buf)
            peak = max(peak, buffered)
            self.chan.pause_reading()
            loop.call_soon(self.chan.resume_reading)

    async with await start_server([key]) as server:
        conn = await _connect(server, key)
        async with conn:
            chan, _session = await conn.create_session(
                Reader, "head -c 33554432 /dev/zero", encoding=None
            )
            await asyncio.wait_for(chan.wait_closed(), 60)
    assert received == 32 << 20
    assert peak <= chan.get_recv_window(), (peak, chan.get_recv_window())
