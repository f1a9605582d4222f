"""The embedded asyncssh server (``remoterepl.embedded``) as a test server in a process of
its own, on a free loopback port, running sessions as whoever runs the tests: no root, no
OpenSSH server needed.

It behaves like sshd where the client cannot tell the difference (exec and shell
sessions, PTYs and their modes, window changes, signal and break requests, exit statuses
and signals, SFTP through the system's sftp-server, key and password authentication), so
tests of remoterepl's own behaviour run against it; tests of OpenSSH's behaviour (root
logins, privilege separation, PAM, its process tree) use :mod:`tests.sshd`.

``python -m tests.embedded_sshd DIR`` is the server process: it reads ``DIR/authorized_keys``
and the optional ``DIR/password``, keeps its host key in DIR, prints ``port N`` once it
listens, and serves until SIGTERM (or its stdin closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from tests.keys import KeyPair
from tests.system import LOOPBACK, TestServer, kill_and_wait

_READY_TIMEOUT = 20.0
ROOT = Path(__file__).resolve().parent.parent
SHELL = "/bin/bash"


class EmbeddedSshd(TestServer):
    """One embedded server process; use as a context manager or start() / cleanup()."""

    def __init__(self, client_key: KeyPair, *, password: str | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="remoterepl-embedded-"))
        self.remote_home = self.dir / "home"  # HOME of the sessions: not the tester's own
        self.remote_home.mkdir()
        (self.dir / "authorized_keys").write_text(client_key.public_line + "\n")
        if password is not None:
            path = self.dir / "password"
            path.touch(mode=0o600)
            path.write_text(password)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host_key(self) -> KeyPair:
        """The server's host key (made when it first starts)."""
        return KeyPair(self.dir / "ssh_host_ed25519_key")

    @property
    def host_key_line(self) -> str:
        """The known_hosts line for this server: ``[127.0.0.1]:PORT ssh-ed25519 AAAA...``."""
        return f"[{LOOPBACK}]:{self.port} {self.host_key.public_line}"

    def start(self) -> EmbeddedSshd:
        """Start the server and return once it listens."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "HOME": str(self.remote_home),
            "SHELL": SHELL,
            "PYTHONPATH": str(ROOT),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.embedded_sshd", str(self.dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=ROOT,
            start_new_session=True,  # a test's Ctrl-C or SIGINT is not the server's
        )
        assert self.proc.stdout is not None
        line = _read_line(self.proc.stdout, _READY_TIMEOUT)
        if not line.startswith(b"port "):
            self.stop()
            raise RuntimeError(f"embedded server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def authorize(self, *public_lines: str) -> None:
        """Accept more client keys (``TYPE BASE64`` lines): read at the next login."""
        with (self.dir / "authorized_keys").open("a") as keys:
            keys.writelines(line + "\n" for line in public_lines)

    def stop(self) -> None:
        """Stop the server and kill what its sessions left running."""
        if self.proc is None:
            return
        leftovers = self.session_pids()
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        kill_and_wait(leftovers)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _read_line(stream: IO[bytes], timeout: float) -> bytes:
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else b""


#: ``embedded_factory() -> EmbeddedSshd``, a dedicated server (fixture in conftest.py).
EmbeddedFactory = Callable[[], EmbeddedSshd]


# --------------------------------------------------------------------------- the server process


async def _serve(directory: Path) -> None:
    from remoterepl.embedded import start_server

    password_file = directory / "password"
    password = password_file.read_text() if password_file.exists() else None
    server = await start_server(
        str(directory / "authorized_keys"),
        host=LOOPBACK,
        host_key_dir=directory,
        password=password,
        shell=SHELL,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_reader(0, stop.set)  # the test process went away: stdin closed
    print(f"port {server.port}", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(_serve(Path(sys.argv[1])))
