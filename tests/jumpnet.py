"""A jump-host topology without leaving loopback: an entrance and an internal sshd.

Both sshds run inside a fresh network namespace (``ip netns add``) that has only its own
loopback interface, listening on the namespace's 127.0.0.1. From the host, the internal
sshd is unreachable (its port on the host's 127.0.0.1 has no listener); the entrance is
reachable because ``socat`` listens on the host's 127.0.0.1 and, per connection, runs
``ip netns exec NS socat STDIO TCP:127.0.0.1:PORT`` -- a wire into the namespace. From
the entrance, 127.0.0.1:INTERNAL_PORT is the internal sshd. This mirrors ``compose/``:
``entrance`` published on loopback, ``internal`` only on the internal network.

No packet ever leaves a loopback interface. Needs root (``ip netns``, sshd).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from tests.keys import KeyPair
from tests.sshd import SshdServer
from tests.system import LOOPBACK

_READY = re.compile(r"listening on AF=2 127\.0\.0\.1:(\d+)")


class NetworkNamespace:
    """A named network namespace with its loopback up; deleted by :meth:`delete`."""

    def __init__(self) -> None:
        """Create it (``ip netns add`` + ``ip -n NS link set lo up``)."""
        self.name = f"rrtest-{secrets.token_hex(4)}"
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        try:
            subprocess.run(
                ["ip", "-n", self.name, "link", "set", "lo", "up"], check=True, capture_output=True
            )
            links = subprocess.run(
                ["ip", "-n", self.name, "-o", "link", "show"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            if any(": lo:" not in line for line in links.splitlines()):
                raise RuntimeError(f"namespace {self.name} has non-loopback links:\n{links}")
        except BaseException:
            self.delete()
            raise

    def exec_prefix(self) -> list[str]:
        """argv prefix that runs a command inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def inode(self) -> str:
        """``net:[INODE]`` of the namespace, as ``readlink /proc/self/ns/net`` shows it."""
        return subprocess.run(
            [*self.exec_prefix(), "readlink", "/proc/self/ns/net"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    def delete(self) -> None:
        """Delete the namespace (processes inside must be gone first)."""
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


class Wire:
    """``socat`` on the host's 127.0.0.1 (ephemeral port) forwarding every connection to
    ``127.0.0.1:port`` inside a namespace."""

    def __init__(self, netns: NetworkNamespace, port: int, directory: Path) -> None:
        """Start it and wait until socat says it is listening."""
        # socat's EXEC address splits on ':' and ',': the inner command lives in a script.
        script = directory / "wire.sh"
        inner = " ".join([*netns.exec_prefix(), "socat", "STDIO", f"TCP:{LOOPBACK}:{port}"])
        script.write_text(f"#!/bin/sh\nexec {inner}\n")
        script.chmod(0o755)
        self.proc = subprocess.Popen(
            ["socat", "-d", "-d", f"TCP-LISTEN:0,bind={LOOPBACK},fork,reuseaddr", f"EXEC:{script}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert self.proc.stderr is not None
        self.port = 0
        for raw in self.proc.stderr:
            found = _READY.search(raw.decode("utf-8", "replace"))
            if found:
                self.port = int(found[1])
                break
        if not self.port:
            self.stop()
            raise RuntimeError("socat did not start listening")
        # Keep draining socat's log so that it never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        with contextlib.suppress(ValueError, OSError):
            for _line in self.proc.stderr:
                pass

    def stop(self) -> None:
        """Stop socat and the forwarders it started."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@dataclass
class JumpNetwork:
    """The entrance (reachable at ``127.0.0.1:entrance_port``) and the internal sshd
    (``127.0.0.1:internal_port`` inside the namespace only)."""

    netns: NetworkNamespace
    entrance: SshdServer
    internal: SshdServer
    wire: Wire

    @property
    def entrance_port(self) -> int:
        """Where clients reach the entrance on the host's loopback."""
        return self.wire.port

    @property
    def internal_port(self) -> int:
        """The internal sshd's port on the namespace's loopback."""
        return self.internal.port

    def entrance_known_host(self) -> str:
        """known_hosts line for the entrance as clients name it."""
        return f"[{LOOPBACK}]:{self.entrance_port} {self.entrance.host_key.public_line}"

    def internal_known_host(self) -> str:
        """known_hosts line for the internal host as clients name it."""
        return f"[{LOOPBACK}]:{self.internal_port} {self.internal.host_key.public_line}"

    def close(self) -> None:
        """Stop everything and delete the namespace."""
        self.wire.stop()
        self.entrance.cleanup()
        self.internal.cleanup()
        self.netns.delete()


def start_jump_network(
    entrance_key: KeyPair,
    internal_key: KeyPair,
    entrance_clients: list[str],
    internal_clients: list[str],
) -> JumpNetwork:
    """Start the topology: distinct host keys, and the client keys each sshd accepts."""
    netns = NetworkNamespace()
    started: list[SshdServer] = []
    try:
        prefix = netns.exec_prefix()
        internal = SshdServer(
            internal_key, internal_clients, name="sshd-internal", command_prefix=prefix
        )
        started.append(internal)
        internal.start()
        entrance = SshdServer(
            entrance_key, entrance_clients, name="sshd-entrance", command_prefix=prefix
        )
        started.append(entrance)
        entrance.start()
        wire = Wire(netns, entrance.port, entrance.dir)
    except BaseException:
        for server in started:
            server.cleanup()
        netns.delete()
        raise
    return JumpNetwork(netns, entrance, internal, wire)
