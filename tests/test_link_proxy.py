"""The link-fault proxy (tests/link_proxy.py) itself: exact bytes both ways at loopback
speed, a cut resets both ends and refuses new connects, restore listens on the same port,
a stall holds bytes on open connections, and the optional delay holds chunks in order."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.link_proxy import LinkProxy
from tests.system import LOOPBACK

pytestmark = pytest.mark.timeout(60)

#: How long a test believes that bytes which should not move indeed did not.
QUIET = 0.3


class Upstream:
    """A loopback listener standing in for the server: the test takes each accepted socket."""

    def __init__(self) -> None:
        self.listener = socket.create_server((LOOPBACK, 0))
        self.port = int(self.listener.getsockname()[1])
        self.accepted: list[socket.socket] = []

    def accept(self, timeout: float = 5.0) -> socket.socket:
        self.listener.settimeout(timeout)
        conn, _ = self.listener.accept()
        conn.settimeout(timeout)
        self.accepted.append(conn)
        return conn

    def close(self) -> None:
        for sock in [*self.accepted, self.listener]:
            sock.close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def proxy(upstream: Upstream) -> Iterator[LinkProxy]:
    with LinkProxy(upstream.port) as link:
        yield link
        assert link.errors == []


def connect(proxy: LinkProxy, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection((LOOPBACK, proxy.port), timeout=timeout)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(min(n - len(data), 1 << 20))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def payload(size: int) -> bytes:
    """*size* bytes that differ per MiB (a repeated block would hide a misplaced chunk)."""
    block = os.urandom(1 << 20)
    return b"".join(i.to_bytes(4, "big") + block[4:] for i in range(size >> 20))


def stream(src: socket.socket, dst: socket.socket, data: bytes) -> tuple[str, float]:
    """Send *data* from *src* (in a thread) while *dst* reads it to EOF; return the received
    sha256 and the seconds it took."""
    digest = hashlib.sha256()
    started = time.monotonic()

    def send() -> None:
        src.sendall(data)
        src.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    while chunk := dst.recv(1 << 20):
        digest.update(chunk)
    elapsed = time.monotonic() - started
    sender.join(10)
    return digest.hexdigest(), elapsed


def test_bytes_exact_both_ways_fast(proxy: LinkProxy, upstream: Upstream) -> None:
    """64 MiB up, then 64 MiB down (the half-close forwarded in between), each byte-exact
    and faster than 100 MB/s; the counters saw every byte."""
    size = 64 << 20
    data = payload(size)
    want = hashlib.sha256(data).hexdigest()
    client = connect(proxy, timeout=30)
    server = upstream.accept(timeout=30)
    up = stream(client, server, data)
    down = stream(server, client, data)
    client.close()
    assert (up[0], down[0]) == (want, want)
    rates = [size / elapsed / 1e6 for _, elapsed in (up, down)]
    assert min(rates) > 100, f"MB/s up, down: {rates}"
    assert (proxy.bytes_up, proxy.bytes_down) == (size, size)
    proxy.wait_for(lambda p: p.connections == 0)
    assert proxy.accepted == 1


def test_cut_resets_both_ends_and_refuses(proxy: LinkProxy, upstream: Upstream) -> None:
    """After cut(): the client's next read fails with ECONNRESET (not a clean EOF), the
    server's side too, and a new connect is refused."""
    client = connect(proxy)
    server = upstream.accept()
    client.sendall(b"ping")
    assert recv_exactly(server, 4) == b"ping"
    proxy.cut()
    assert (proxy.connections, proxy.listening) == (0, False)
    with pytest.raises(ConnectionResetError):
        client.recv(10)
    with pytest.raises(ConnectionResetError):
        server.recv(10)
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)
    client.close()


def test_restore_listens_on_the_same_port(proxy: LinkProxy, upstream: Upstream) -> None:
    """stall(), cut() then restore(): the same port accepts and forwards again (the stall
    is over); accepted counts both."""
    port = proxy.port
    first = connect(proxy)
    upstream.accept()
    proxy.stall()
    proxy.cut()
    first.close()
    proxy.restore()
    assert (proxy.port, proxy.listening) == (port, True)
    client = connect(proxy)
    server = upstream.accept()
    client.sendall(b"again")
    assert recv_exactly(server, 5) == b"again"
    server.sendall(b"back")
    assert recv_exactly(client, 4) == b"back"
    assert (proxy.accepted, proxy.connections) == (2, 1)
    client.close()


def test_stall_holds_bytes_and_keeps_connections(proxy: LinkProxy, upstream: Upstream) -> None:
    """stall(): bytes sent either way stay put, the connections stay open (no EOF, no
    reset), a connection made meanwhile is accepted but moves nothing; resume() delivers
    all of it, in order."""
    client = connect(proxy)
    server = upstream.accept()
    proxy.stall()
    client.sendall(b"up-1")
    server.sendall(b"down-1")
    client.sendall(b"up-2")
    late = connect(proxy)
    late_server = upstream.accept()  # the kernel's handshake and the proxy's connect happen
    late.sendall(b"late")
    deadline = time.monotonic() + 5
    while proxy.held() != (12, 6) and time.monotonic() < deadline:
        time.sleep(0.01)  # loopback delivers into the proxy's socket buffers at once
    assert proxy.held() == (12, 6)
    for sock in (server, client, late_server):
        sock.settimeout(QUIET)
        with pytest.raises(TimeoutError):
            sock.recv(10)
    assert proxy.connections == 2
    proxy.resume()
    for sock in (server, client, late_server):
        sock.settimeout(5)
    assert recv_exactly(server, 8) == b"up-1up-2"
    assert recv_exactly(client, 6) == b"down-1"
    assert recv_exactly(late_server, 4) == b"late"
    client.close()
    late.close()


def test_half_close_is_forwarded(proxy: LinkProxy, upstream: Upstream) -> None:
    """The client's FIN reaches the server as EOF while the server can still answer; the
    server's close then reaches the client as EOF and the proxy forgets the connection."""
    client = connect(proxy)
    server = upstream.accept()
    client.sendall(b"question")
    client.shutdown(socket.SHUT_WR)
    assert recv_exactly(server, 100) == b"question"
    server.sendall(b"answer")
    server.close()
    assert recv_exactly(client, 100) == b"answer"
    proxy.wait_for(lambda p: p.connections == 0)
    client.close()


def test_unreachable_target_closes_the_client(upstream: Upstream) -> None:
    """Nothing listens at the target: the client's connection ends at once (a reset; it
    may come before the client's connect call returned: then that call reports it)."""
    port = upstream.port
    upstream.close()
    with LinkProxy(port) as proxy, pytest.raises(ConnectionResetError):
        client = connect(proxy)
        try:
            client.recv(10)
        finally:
            client.close()
            proxy.wait_for(lambda p: p.connections == 0)


def test_delay_holds_each_direction_in_order(upstream: Upstream) -> None:
    """delay_up=0.1, delay_down=0.05: a round trip takes at least 0.15 s (a lower bound
    only: a loaded machine adds), and 50 chunks sent back to back arrive in order."""
    with LinkProxy(upstream.port, delay_up=0.1, delay_down=0.05) as proxy:
        client = connect(proxy)
        server = upstream.accept()
        started = time.monotonic()
        client.sendall(b"ping")
        assert recv_exactly(server, 4) == b"ping"
        server.sendall(b"pong")
        assert recv_exactly(client, 4) == b"pong"
        assert time.monotonic() - started >= 0.15
        chunks = [b"%04d;" % i for i in range(50)]
        for chunk in chunks:
            client.sendall(chunk)
        assert recv_exactly(server, 250) == b"".join(chunks)
        client.close()
        assert proxy.errors == []


def test_both_sockets_of_a_link_send_without_nagle(proxy: LinkProxy, upstream: Upstream) -> None:
    """TCP_NODELAY on the accepted socket too (asyncio sets it only on proto IPPROTO_TCP
    sockets): with Nagle, a delayed chunk behind an unacknowledged one would wait for the
    client's delayed ACK (~40 ms), doubling small figures of the WAN benchmark."""
    client = connect(proxy)
    server = upstream.accept()
    try:
        client.sendall(b"x")  # through: both of the proxy's sockets are connected
        assert recv_exactly(server, 1) == b"x"
        (link,) = proxy.links
        for side in (link.client, link.server):
            assert side.transport is not None
            sock = side.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        client.close()
        server.close()
