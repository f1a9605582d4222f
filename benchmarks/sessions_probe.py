"""Memory per extra session, measured inside one process with remoterepl's own modules.

    python -m benchmarks.sessions_probe --config SSH_CONFIG --host ALIAS --count N

Opens one session (``remoterepl.ssh.connect.connect`` + ``RemoteSession.open`` of an idle
remote ``cat``, exactly what one remoterepl run holds), then N more, each on its own
connection, then N more as extra channels on the first connection; VmRSS is read after
each step (after a garbage collection and a short settle). Prints JSON on stdout.
Sessions are opened one at a time: the machine has 2 cores and sshd forks per connection.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json

from benchmarks.procs import rss_kib
from remoterepl.environment import Console
from remoterepl.errors import RemoteReplError
from remoterepl.session.process import RemoteSession
from remoterepl.settings import ConnectSettings, Target
from remoterepl.ssh.connect import open_connection
from remoterepl.ssh.connection import Connection


async def _settled_rss() -> int:
    gc.collect()
    await asyncio.sleep(0.3)
    gc.collect()
    return rss_kib() or 0


async def _round_trip(session: RemoteSession) -> None:
    session.send(b"x\n")
    echoed = b""
    while not echoed.endswith(b"\n"):
        chunk = await session.stdout.read(64)
        if not chunk:
            raise RemoteReplError("the remote cat ended early")
        echoed += chunk


async def probe(config: str, host: str, count: int) -> dict[str, object]:
    """Open the sessions and report RSS steps in KiB."""
    settings = ConnectSettings(target=Target(host=host), config_file=config, quiet=True)
    connections: list[Connection] = []
    sessions: list[RemoteSession] = []

    async def open_session(connection: Connection | None = None) -> None:
        if connection is None:
            connection = await open_connection(settings, Console(None))
            connections.append(connection)
        session = await RemoteSession.open(connection, "cat", None)
        await _round_trip(session)  # fully up, buffers allocated
        sessions.append(session)

    try:
        await open_session()
        base = await _settled_rss()
        per_connection: list[float] = []
        previous = base
        for _ in range(count):
            await open_session()
            now = await _settled_rss()
            per_connection.append(float(now - previous))
            previous = now
        after_connections = previous
        per_channel: list[float] = []
        for _ in range(count):
            try:
                await open_session(connections[0])
            except RemoteReplError:  # the server's MaxSessions (OpenSSH default: 10)
                break
            now = await _settled_rss()
            per_channel.append(float(now - previous))
            previous = now
        return {
            "count": count,
            "base_kib": base,
            "after_connections_kib": after_connections,
            "after_channels_kib": previous,
            "per_connection_kib": (after_connections - base) / count,
            "channels": len(per_channel),
            "per_channel_kib": (previous - after_connections) / max(1, len(per_channel)),
            "per_connection_samples": per_connection,
            "per_channel_samples": per_channel,
        }
    finally:
        for session in sessions:
            session.close()
        for connection in connections:
            connection.close()
        for connection in connections:
            await connection.wait_closed()


def main() -> None:
    """Command line entry point (run by benchmarks.suite.measure_sessions)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="ssh_config file naming the host")
    parser.add_argument("--host", required=True, help="ssh_config alias")
    parser.add_argument("--count", type=int, default=50, help="extra sessions to open")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(probe(args.config, args.host, args.count))))


if __name__ == "__main__":
    main()
