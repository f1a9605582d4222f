"""Persistent sessions (``--persist NAME``, issue 15) end to end: the installed remoterepl,
piped and in a real pty, against a real OpenSSH sshd (a non-root login: its process tree,
keepalives and a second user matter) and the embedded server where OpenSSH's own
behaviour does not (the holder runs real processes there too: a shell and python3).

Contract (CLI_CONTRACT / issue 15): ``--persist NAME`` creates session NAME of the remote
user or reattaches to it (its process; COMMAND then ignored) and replays the output held
(1 MiB by default) before going on live. A lost link (TCP reset, keepalive timeout) says
one line with "lost" and "reconnecting", reconnects for ``-o ReconnectFor=TIME``, then
"reconnected"; lines typed meanwhile are sent once, in order, and no output is lost or
doubled. A second client takes a live session over (the first says "taken over" and exits
255). ``--sessions DEST`` lists NAME, COMMAND, STATE (attached / detached / exited N), IDLE;
``--kill-session NAME DEST`` exits 0 when it ended one, 1 naming NAME when there was none.
Exit status: the remote's own, 128+N for signal N, 255 when the session cannot be reached.

Link faults come from tests/link_proxy.py (a loopback proxy between client and sshd: cut
with a reset and restored) and tests/sshd_session.py (the connection's sshd SIGSTOPped).
Every session a test makes has a unique name; its holder processes and files are removed
afterwards whatever happened.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pwd
import re
import secrets
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import pytest

from tests.client import (
    Terminal,
    assert_one_line_error,
    remoterepl_command,
    run_remoterepl,
    spawn_remoterepl,
)
from tests.client_env import ClientEnv, ClientEnvFactory
from tests.embedded_sshd import EmbeddedFactory, EmbeddedSshd
from tests.fleet_hosts import add_host_aliases
from tests.link_proxy import LinkProxy, trust_proxy
from tests.sshd_session import client_ports, find_sshd_session, frozen
from tests.system import descendants, free_port, kill_and_wait, processes_running

pytestmark = pytest.mark.timeout(240)

KEEPALIVE = ["-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=2"]
KEEPALIVE_CONFIG = ["ServerAliveInterval 1", "ServerAliveCountMax 2"]
RECONNECT = ["--reconnect-for", "60"]
#: Keepalives notice a frozen server within INTERVAL x COUNT; a loaded machine adds.
SLACK = 8.0
MIB = 1 << 20
#: Terminal width of the interactive cases: the client's notices are long, and a row per
#: notice keeps "one line saying so" countable on the screen.
WIDE = 200


# --------------------------------------------------------------------------- remotes and names


@dataclass(frozen=True)
class Remote:
    """A login on a test server and that user's HOME as this machine sees it (the test
    servers run here), where the holder keeps its directory."""

    env: ClientEnv
    alias: str
    home: Path

    @property
    def holder_dir(self) -> Path:
        """The holder's directory: no XDG_RUNTIME_DIR under either test server (no PAM)."""
        return self.home / ".cache" / "remoterepl" / "sessions"

    def run(self, *args: str, input: bytes = b"", timeout: float = 60) -> Ran:
        """``remoterepl ARGS`` with this login's HOME, piped, to completion."""
        proc = run_remoterepl(list(args), env=self.env.env, input=input, timeout=timeout)
        return Ran(proc.returncode, proc.stdout, proc.stderr)

    def sessions(self) -> Ran:
        """``remoterepl --sessions ALIAS``."""
        return self.run("--sessions", self.alias)

    def kill_session(self, name: str) -> Ran:
        """``remoterepl --kill-session NAME ALIAS``."""
        return self.run("--kill-session", name, self.alias)


@dataclass(frozen=True)
class Ran:
    """A finished client: status and output."""

    status: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        """stdout and stderr, decoded leniently, for messages and loose assertions."""
        return (self.stdout + self.stderr).decode("utf-8", "replace")


def sshd_remote(env: ClientEnv, user: str, alias: str) -> Remote:
    return Remote(env, alias, Path(pwd.getpwnam(user).pw_dir))


@pytest.fixture
def on_sshd(client_env: ClientEnv) -> Remote:
    """The non-root key user on the shared real sshd."""
    return sshd_remote(client_env, client_env.users.user, client_env.user_alias)


@pytest.fixture
def on_embedded(embedded_env: ClientEnv, embedded_sshd: EmbeddedSshd) -> Remote:
    """The shared embedded server (its sessions' HOME is its own directory)."""
    return Remote(embedded_env, embedded_env.user_alias, embedded_sshd.remote_home)


@pytest.fixture(params=["embedded", "openssh"])
def remote(request: pytest.FixtureRequest) -> Remote:
    """The embedded server, then the non-root user on a real sshd (skipped without root)."""
    found: Remote = request.getfixturevalue(
        "on_embedded" if request.param == "embedded" else "on_sshd"
    )
    return found


@dataclass
class Names:
    """Unique session names for one test; what they leave is removed afterwards."""

    made: list[tuple[Remote, str]] = field(default_factory=list)

    def new(self, remote: Remote, label: str = "t") -> str:
        """A fresh session name on *remote* (and its files in the remote HOME)."""
        name = f"{label}-{secrets.token_hex(5)}"
        self.made.append((remote, name))
        return name

    def also(self, remote: Remote, name: str) -> None:
        """The same name used by another login (its own namespace, its own leftovers)."""
        self.made.append((remote, name))


def holder_pids(name: str) -> list[int]:
    """Processes started for session *name* (holder relay and daemon run with NAME in
    their argv; the clients too) and everything below them (the session's process)."""
    pids = processes_running(name.encode())
    for pid in list(pids):
        pids.extend(descendants(pid))
    return sorted(set(pids))


def leftovers(remote: Remote, name: str) -> list[str]:
    """What session *name* left on *remote*: processes and files in the holder directory."""
    found = [f"pid {pid}" for pid in processes_running(name.encode())]
    with contextlib.suppress(OSError):
        found += [str(p) for p in remote.holder_dir.iterdir() if p.name.startswith(name + ".")]
    return found


def holder_gone(name: str) -> bool:
    return not processes_running(name.encode())


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll *predicate* (every 20 ms) until true; fail the test naming *what*."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            pytest.fail(f"{what}: not within {timeout}s")
        time.sleep(0.02)


def assert_nothing_left(remote: Remote, name: str, timeout: float = 15) -> None:
    """The holder of an ended, collected session exits and removes its files."""
    deadline = time.monotonic() + timeout
    while left := leftovers(remote, name):
        if time.monotonic() >= deadline:
            pytest.fail(f"session {name} left {left}")
        time.sleep(0.05)
    assert not [p for p in Path("/tmp").iterdir() if name in p.name]


@pytest.fixture
def names() -> Iterator[Names]:
    """Session names for the test; afterwards every holder process of them is killed and
    its files (in the holder directory, and the HOME files the test made) removed."""
    made = Names()
    yield made
    for remote, name in made.made:
        kill_and_wait(holder_pids(name))
        for base in (remote.holder_dir, remote.home):
            with contextlib.suppress(OSError):
                for path in base.iterdir():
                    if name in path.name:
                        path.unlink()


# --------------------------------------------------------------------------- clients


def persist(name: str, *args: str) -> list[str]:
    """remoterepl arguments ``--persist NAME ARGS...``."""
    return ["--persist", name, *args]


def waiting_for(name: str, what: str) -> str:
    """A remote shell loop that waits until the test creates ``~/WHAT-NAME``."""
    return f"until [ -e {what}-{name} ]; do sleep 0.05; done"


def touch(remote: Remote, name: str, what: str) -> None:
    """Create ``~/WHAT-NAME`` on *remote* (see :func:`waiting_for`)."""
    (remote.home / f"{what}-{name}").touch()


class PipeClient:
    """remoterepl in pipe mode, its stdout and stderr read as they come (threads), for
    tests that act while it runs. ``keep=False`` only counts and hashes stdout."""

    def __init__(self, args: Sequence[str], env: ClientEnv, *, keep: bool = True) -> None:
        self.proc = subprocess.Popen(
            remoterepl_command(args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env.env),
            start_new_session=True,
        )
        self.keep = keep
        self.out = bytearray()
        self.err = bytearray()
        self.out_len = 0
        self.out_sha = hashlib.sha256()
        self.cond = threading.Condition()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout.fileno(), False)),
            threading.Thread(target=self._read, args=(self.proc.stderr.fileno(), True)),
        ]
        for reader in self.readers:
            reader.daemon = True
            reader.start()

    def _read(self, fd: int, is_err: bool) -> None:
        while chunk := os.read(fd, 1 << 16):
            with self.cond:
                if is_err:
                    self.err += chunk
                else:
                    self.out_len += len(chunk)
                    self.out_sha.update(chunk)
                    if self.keep:
                        self.out += chunk
                self.cond.notify_all()

    def wait_for(self, predicate: Callable[[PipeClient], bool], what: str, timeout: float) -> None:
        """Wait until *predicate(self)* holds, re-checked on every output chunk."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"{what}: not within {timeout}s\n{self.describe()}")
                if self.proc.poll() is not None and not any(r.is_alive() for r in self.readers):
                    pytest.fail(f"{what}: the client ended first\n{self.describe()}")
                # Also wakes up now and then: an exited client sends no more chunks.
                self.cond.wait(min(remaining, 0.2))

    def wait_out(self, needle: bytes, timeout: float = 30) -> None:
        """Wait until stdout contains *needle*."""
        self.wait_for(lambda c: needle in c.out, f"stdout never had {needle!r}", timeout)

    def err_lines(self, *words: str) -> list[str]:
        """The stderr lines containing every one of *words* (case-insensitive)."""
        text = bytes(self.err).decode("utf-8", "replace")
        return [line for line in text.splitlines() if all(w.lower() in line.lower() for w in words)]

    def wait_err(self, *words: str, count: int = 1, timeout: float = 30) -> None:
        """Wait until *count* stderr lines contain all of *words*."""
        self.wait_for(
            lambda c: len(c.err_lines(*words)) >= count,
            f"{count} stderr line(s) with {words}",
            timeout,
        )

    def send(self, data: bytes) -> None:
        """Write to the client's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        """EOF on the client's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def finish(self, timeout: float = 60) -> int:
        """Wait for the client's exit and the end of its output; return its status."""
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"client still running after {timeout}s\n{self.describe()}")
        for reader in self.readers:
            reader.join(10)
        return status

    def kill(self) -> int:
        """SIGKILL the client (the remote session must live on); return its status."""
        self.proc.kill()
        return self.finish(10)

    def describe(self) -> str:
        """Status and output tails, for failure messages."""
        return (
            f"status {self.proc.poll()}, stdout ({self.out_len} bytes) ends "
            f"{bytes(self.out[-300:])!r}\nstderr: {bytes(self.err[-2000:])!r}"
        )

    def __enter__(self) -> PipeClient:
        """Return self."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Kill the client if it still runs; close its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def screen_rows(term: Terminal) -> list[str]:
    """The screen's rows, stripped."""
    return [row.strip() for row in term.screen_text().splitlines()]


def answered(value: str, times: int = 1) -> Callable[[str], bool]:
    """A screen predicate: a row that is exactly *value* (a bc answer) shows *times* times."""
    return lambda screen: [row.strip() for row in screen.splitlines()].count(value) >= times


def rows_with(screen: str, *words: str) -> list[str]:
    """The screen rows containing every one of *words* (case-insensitive)."""
    return [r for r in screen.splitlines() if all(w.lower() in r.lower() for w in words)]


def lost_shown(screen: str) -> bool:
    return bool(rows_with(screen, "lost", "reconnecting"))


def reconnected_shown(screen: str) -> bool:
    return bool(rows_with(screen, "reconnected"))


def assert_no_traceback(text: str | bytes | bytearray) -> None:
    shown = text if isinstance(text, str) else bytes(text).decode("utf-8", "replace")
    assert "Traceback" not in shown, shown


def via_proxy(remote: Remote, proxy: LinkProxy, alias: str = "via-proxy") -> Remote:
    """*remote*'s login reached through *proxy* (an ssh_config alias, the host key trusted
    for the proxy's port), with keepalives: a stalled link is noticed too."""
    add_host_aliases(
        remote.env,
        [alias],
        user=remote.env.users.user,
        port=proxy.port,
        extra=KEEPALIVE_CONFIG,
    )
    trust_proxy(remote.env, proxy)
    return Remote(remote.env, alias, remote.home)


# --------------------------------------------------------------------------- the client gone


def test_bc_variable_survives_a_killed_client(on_sshd: Remote, names: Names) -> None:
    """``--persist N host bc``: x=41 set, the client SIGKILLed; ``--persist N`` again shows
    the held output (42 once: replayed, not doubled) and x is still 41; quit ends it all."""
    name = names.new(on_sshd, "bc")
    args = persist(name, on_sshd.alias, "bc")
    with spawn_remoterepl(args, on_sshd.env.env, cols=WIDE) as term:
        term.wait_for_screen("bc>", timeout=30)
        term.sendline("x = 41")
        term.sendline("x + 1")
        screen = term.wait_for_screen(answered("42"))
        assert screen.count("x + 1") == 1, screen
        os.kill(term.child.pid, signal.SIGKILL)
        assert term.wait_exit() == 128 + signal.SIGKILL
    assert processes_running(name.encode()), "the holder died with its client"
    with spawn_remoterepl(args, on_sshd.env.env, cols=WIDE) as term:
        term.wait_for_screen(answered("42"), timeout=30)
        term.sendline("x * 2")
        screen = term.wait_for_screen(answered("82"))
        assert screen_rows(term).count("42") == 1, term.describe()
        term.sendline("quit")
        assert term.wait_exit(15) == 0
        assert_no_traceback(term.transcript_text())
    assert_nothing_left(on_sshd, name)


def test_output_made_while_detached_is_replayed_exactly_once(on_sshd: Remote, names: Names) -> None:
    """Piped: the client is SIGKILLed, the remote then prints 2000 rows and ends them with
    ``end``; a new client gets every byte once, in order (the replay, then live output
    without a repeat), then the final row and the remote's status."""
    name = names.new(on_sshd, "replay")
    command = (
        f"echo start; {waiting_for(name, 'go')}; seq -f row-%g 1 2000; echo end;"
        f" : > done-{name}; {waiting_for(name, 'fin')}; echo final"
    )
    args = persist(name, on_sshd.alias, command)
    with PipeClient(args, on_sshd.env) as first:
        first.wait_out(b"start\n")
        first.kill()
    touch(on_sshd, name, "go")
    done = on_sshd.home / f"done-{name}"
    wait_until(done.exists, 30, "the detached remote finished its rows")
    with PipeClient(args, on_sshd.env) as second:
        second.wait_out(b"end\n")
        touch(on_sshd, name, "fin")
        assert second.finish() == 0, second.describe()
        rows = b"".join(b"row-%d\n" % i for i in range(1, 2001))
        assert bytes(second.out) == b"start\n" + rows + b"end\nfinal\n"
        assert_no_traceback(second.err)
    assert_nothing_left(on_sshd, name)


def test_tilde_dot_detaches_and_the_process_runs_on(on_embedded: Remote, names: Names) -> None:
    """``~.`` in a persisted interactive session leaves the client; the session shows as
    detached and a reattach finds bc's state."""
    name = names.new(on_embedded, "tilde")
    args = persist(name, on_embedded.alias, "bc")
    with spawn_remoterepl(args, on_embedded.env.env, cols=WIDE) as term:
        term.wait_for_screen("bc>", timeout=30)
        term.sendline("y = 6 * 7")
        term.sendline("y")
        term.wait_for_screen(answered("42"))
        term.send("~.")
        term.wait_exit(15)
    listed = on_embedded.sessions()
    assert listed.status == 0, listed.text
    (row,) = [r for r in listed.stdout.decode().splitlines() if name in r]
    assert "detached" in row, listed.text
    with spawn_remoterepl(args, on_embedded.env.env, cols=WIDE) as term:
        term.wait_for_screen(answered("42"), timeout=30)
        term.sendline("y + 1")
        term.wait_for_screen(answered("43"))
        term.sendline("quit")
        assert term.wait_exit(15) == 0
    assert_nothing_left(on_embedded, name)


def test_the_detach_notice_names_a_command_that_reattaches(
    on_embedded: Remote, names: Names
) -> None:
    """After ``~.`` the client says how to reattach: that very command (in the same
    client HOME, so with the same ssh_config) reattaches and finds bc's state."""
    name = names.new(on_embedded, "hint")
    args = persist(name, on_embedded.alias, "bc")
    with spawn_remoterepl(args, on_embedded.env.env, cols=WIDE) as term:
        term.wait_for_screen("bc>", timeout=30)
        term.sendline("z = 5")
        term.sendline("z")
        term.wait_for_screen(answered("5"))
        term.send("~.")
        term.wait_exit(15)
        hint = re.search(r"\((remoterepl --persist .*) reattaches\)", term.screen_text())
    assert hint is not None, term.screen_text()
    again = shlex.split(hint[1])[1:]
    with spawn_remoterepl(again, on_embedded.env.env, cols=WIDE) as term:
        term.wait_for_screen(answered("5"), timeout=30)
        term.sendline("z * 2")
        term.wait_for_screen(answered("10"))
        term.sendline("quit")
        assert term.wait_exit(15) == 0
    assert_nothing_left(on_embedded, name)


# --------------------------------------------------------------------------- the link lost


def test_link_cut_and_restored_reconnects_and_sends_typed_lines_once(
    on_sshd: Remote, names: Names
) -> None:
    """bc through the proxy: a line typed into a stalled link (lost in flight by the cut
    that follows), the link reset, two more lines typed while it is down, the link back:
    the client says lost/reconnecting, then reconnected, and bc got each line once, in
    order: a = (1 + 1) * 10 = 20 (a line doubled or reordered gives another number)."""
    name = names.new(on_sshd, "cut")
    with LinkProxy(on_sshd.env.port) as proxy:
        link = via_proxy(on_sshd, proxy)
        with spawn_remoterepl(
            persist(name, *RECONNECT, link.alias, "bc"), link.env.env, cols=WIDE
        ) as term:
            term.wait_for_screen("bc>", timeout=30)
            term.sendline("a = 1")
            term.sendline("a")
            term.wait_for_screen(answered("1"))
            proxy.stall()
            term.sendline("a = a + 1")
            # The line is in flight: the proxy holds it (a PTY session shows it only with
            # the remote's echo, after reconnecting).
            wait_until(lambda: proxy.held()[0] > 0, 10, "the typed line reached the link")
            proxy.cut()
            term.wait_for_screen(lost_shown, timeout=15)
            term.sendline("a = a * 10")
            term.sendline("a")
            proxy.restore()
            term.wait_for_screen(reconnected_shown, timeout=30)
            screen = term.wait_for_screen(answered("20"), timeout=15)
            assert len(rows_with(screen, "lost", "reconnecting")) == 1, screen
            assert len(rows_with(screen, "reconnected")) == 1, screen
            for line in ("a = a + 1", "a = a * 10"):
                assert screen.count(line) == 1, screen
            term.sendline("a")
            term.wait_for_screen(answered("20", 2))
            term.sendline("quit")
            assert term.wait_exit(15) == 0
            assert_no_traceback(term.transcript_text())
        assert proxy.accepted >= 2, proxy
    assert_nothing_left(on_sshd, name)


def test_frozen_sshd_session_reconnects_by_keepalive(on_sshd: Remote, names: Names) -> None:
    """The connection's sshd process SIGSTOPped (the TCP link stays up): keepalives give
    up within 2 s + slack, the client reconnects (a new sshd session; the holder lets the
    stale one go) and a line typed into the frozen link plus two typed after the notice
    reach bc once, in order."""
    name = names.new(on_sshd, "frozen")
    args = persist(name, *KEEPALIVE, *RECONNECT, on_sshd.alias, "bc")
    with spawn_remoterepl(args, on_sshd.env.env, cols=WIDE) as term:
        term.wait_for_screen("bc>", timeout=30)
        term.sendline("a = 1")
        term.sendline("a")
        term.wait_for_screen(answered("1"))
        (port,) = client_ports(term.child.pid, on_sshd.env.port)
        server = find_sshd_session(on_sshd.env.port, port)
        with frozen(server.session):
            started = time.monotonic()
            term.sendline("a = a + 1")
            term.wait_for_screen(lost_shown, timeout=2 + SLACK)
            assert time.monotonic() - started < 2 + SLACK
            term.sendline("a = a * 10")
            term.sendline("a")
            term.wait_for_screen(reconnected_shown, timeout=30)
            screen = term.wait_for_screen(answered("20"), timeout=15)
            for line in ("a = a + 1", "a = a * 10"):
                assert screen.count(line) == 1, screen
        term.sendline("quit")
        assert term.wait_exit(15) == 0
        assert_no_traceback(term.transcript_text())
    assert_nothing_left(on_sshd, name)


def test_64_mib_through_a_pipe_with_the_link_cut_twice(on_sshd: Remote, names: Names) -> None:
    """64 MiB of random bytes through a persisted remote ``cat``, the link reset at about
    16 and 40 MiB (and restored once the client says so): status 0, every byte back once
    (length and sha256), one lost and one reconnected line per cut."""
    name = names.new(on_sshd, "bulk")
    total = 64 * MIB
    sent = hashlib.sha256()
    with LinkProxy(on_sshd.env.port) as proxy:
        link = via_proxy(on_sshd, proxy)
        args = persist(name, *RECONNECT, link.alias, "cat")
        with PipeClient(args, link.env, keep=False) as client:
            assert client.proc.stdin is not None
            stdin = client.proc.stdin

            def feed() -> None:
                with contextlib.suppress(BrokenPipeError):  # the assertions below report it
                    for _ in range(total // MIB):
                        block = os.urandom(MIB)
                        sent.update(block)
                        stdin.write(block)
                    stdin.close()

            feeder = threading.Thread(target=feed, daemon=True)
            feeder.start()
            for cut, mark in enumerate((16 * MIB, 40 * MIB), start=1):

                def through(mark: int = mark) -> bool:
                    return proxy.bytes_down >= mark or client.proc.poll() is not None

                wait_until(through, 120, f"{mark} bytes through the link")
                assert client.proc.poll() is None, client.describe()
                proxy.cut()
                client.wait_err("lost", "reconnecting", count=cut, timeout=15)
                proxy.restore()
                client.wait_err("reconnected", count=cut, timeout=30)
            status = client.finish(timeout=180)
            feeder.join(10)
            assert status == 0, client.describe()
            assert client.out_len == total, client.describe()
            assert client.out_sha.hexdigest() == sent.hexdigest()
            assert len(client.err_lines("lost", "reconnecting")) == 2, client.describe()
            assert len(client.err_lines("reconnected")) == 2, client.describe()
            assert_no_traceback(client.err)
        assert proxy.accepted >= 3, proxy
    assert_nothing_left(on_sshd, name)


def test_reconnects_through_a_jump_host(on_sshd: Remote, names: Names) -> None:
    """``inner`` is reached with ProxyJump through a hop whose link is the proxy: the hop's
    link reset and restored, the client rebuilds the chain, reattaches, and lines sent
    before and during the outage come back once, in order."""
    name = names.new(on_sshd, "jump")
    env = on_sshd.env
    with LinkProxy(env.port) as proxy:
        via_proxy(on_sshd, proxy, alias="hop")
        add_host_aliases(env, ["inner"], extra=["ProxyJump hop", *KEEPALIVE_CONFIG])
        args = persist(name, *RECONNECT, "inner", "echo up; exec cat")
        with PipeClient(args, env) as client:
            client.wait_out(b"up\n")
            client.send(b"before\n")
            client.wait_out(b"before\n")
            proxy.cut()
            client.wait_err("lost", "reconnecting", timeout=15)
            client.send(b"during\n")
            proxy.restore()
            client.wait_err("reconnected", timeout=30)
            client.send(b"after\n")
            client.wait_out(b"after\n")
            client.close_stdin()
            assert client.finish() == 0, client.describe()
            assert bytes(client.out) == b"up\nbefore\nduring\nafter\n"
            assert_no_traceback(client.err)
        assert proxy.accepted >= 2, proxy
    assert_nothing_left(on_sshd, name)


def blocked_writing(marker: bytes) -> bool:
    """True once a process whose argv has *marker* sleeps in a pipe write (its reader,
    the holder, stopped reading); the kernel says ``pipe_write`` or ``anon_pipe_write``."""
    for pid in processes_running(marker):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/wchan").read_text().endswith("pipe_write"):
                return True
    return False


def test_pipe_output_made_while_the_link_is_down_is_never_lost(
    on_sshd: Remote, names: Names
) -> None:
    """Piped, the link cut, then the remote writes about 5 MiB (more than the holder's
    1 MiB buffer): the holder stops reading it (the writer blocks) instead of dropping
    any; after the link is back every row arrives once, in order, and the status."""
    name = names.new(on_sshd, "flow")
    rows = 600000 + secrets.randbelow(1000)  # the count names the writer's argv
    command = f"echo ready; {waiting_for(name, 'go')}; seq -f %07g 1 {rows}; echo fin"
    with LinkProxy(on_sshd.env.port) as proxy:
        link = via_proxy(on_sshd, proxy)
        with PipeClient(persist(name, *RECONNECT, link.alias, command), link.env) as client:
            client.wait_out(b"ready\n")
            proxy.cut()
            client.wait_err("lost", "reconnecting", timeout=15)
            touch(on_sshd, name, "go")
            wait_until(
                functools.partial(blocked_writing, str(rows).encode()),
                30,
                "the remote blocked writing (the holder holds its buffer's worth)",
            )
            proxy.restore()
            client.wait_err("reconnected", timeout=30)
            client.close_stdin()
            assert client.finish() == 0, client.describe()
            want = b"".join(b"%07d\n" % i for i in range(1, rows + 1))
            assert bytes(client.out) == b"ready\n" + want + b"fin\n"
            assert not client.err_lines("bytes"), client.describe()  # no gap reported
    assert_nothing_left(on_sshd, name)


def test_terminal_output_beyond_the_buffer_while_down_is_reported(
    on_embedded: Remote, names: Names
) -> None:
    """In a terminal (a PTY session: the holder keeps reading, keeping the last 1 MiB),
    the link cut while the remote writes about 1.7 MiB: after reconnecting, one line says
    how many bytes were lost, and the output's end is shown."""
    name = names.new(on_embedded, "gap")
    with LinkProxy(on_embedded.env.port) as proxy:
        link = via_proxy(on_embedded, proxy)
        args = persist(name, *RECONNECT, link.alias)
        with spawn_remoterepl(args, link.env.env, cols=WIDE) as term:
            term.wait_for_screen(lambda s: s.rstrip().endswith(("$", "#")), timeout=30)
            term.sendline(
                f"{waiting_for(name, 'go')}; seq -f %015g 1 100000; : > done-{name}; echo f''in"
            )
            term.wait_for_screen("seq -f")
            proxy.cut()
            term.wait_for_screen(lost_shown, timeout=15)
            touch(on_embedded, name, "go")
            done = on_embedded.home / f"done-{name}"
            wait_until(done.exists, 30, "the remote wrote its rows")
            proxy.restore()
            term.wait_for_screen(reconnected_shown, timeout=30)
            screen = term.wait_for_screen(
                lambda s: "000000000100000" in s and "\nfin" in s, timeout=60
            )
            # The notice scrolled away under the rows: look for it in what was written.
            gaps = [
                r
                for r in rows_with(term.transcript_text(), "remoterepl", "lost")
                if "reconnecting" not in r and re.search(r"\d{4,}", r)
            ]
            assert len(gaps) == 1, gaps or screen
            term.sendline("exit")
            assert term.wait_exit(15) == 0
    assert_nothing_left(on_embedded, name)


def test_reconnecting_gives_up_with_255_and_the_session_lives_on(
    on_embedded: Remote, names: Names
) -> None:
    """``--reconnect-for 3`` and a link that stays cut: 255 within 3 s + slack of the
    cut, the line saying it was lost; the session is still there (detached): a direct
    ``--persist`` gets its output and ends it."""
    name = names.new(on_embedded, "giveup")
    command = f"echo up; {waiting_for(name, 'go')}; echo down"
    with LinkProxy(on_embedded.env.port) as proxy:
        link = via_proxy(on_embedded, proxy)
        args = persist(name, "--reconnect-for", "3", link.alias, command)
        with PipeClient(args, link.env) as client:
            client.wait_out(b"up\n")
            proxy.cut()
            started = time.monotonic()
            assert client.finish(3 + SLACK + 10) == 255, client.describe()
            assert time.monotonic() - started < 3 + SLACK, client.describe()
            assert client.err_lines("lost"), client.describe()
            assert_no_traceback(client.err)
    touch(on_embedded, name, "go")
    with PipeClient(persist(name, on_embedded.alias), on_embedded.env) as again:
        assert again.finish() == 0, again.describe()
        assert bytes(again.out) == b"up\ndown\n"
    assert_nothing_left(on_embedded, name)


# --------------------------------------------------------------------------- who may attach


def test_second_client_takes_the_session_over(remote: Remote, names: Names) -> None:
    """A second ``--persist N`` while the first is attached: the first says "taken over"
    and exits 255; the second got the replay and goes on live to the remote's end."""
    name = names.new(remote, "take")
    args = persist(name, remote.alias, "echo ready; exec cat")
    with PipeClient(args, remote.env) as first:
        first.wait_out(b"ready\n")
        first.send(b"one\n")
        first.wait_out(b"one\n")
        with PipeClient(args, remote.env) as second:
            second.wait_out(b"ready\none\n")
            assert first.finish(20) == 255, first.describe()
            assert first.err_lines("taken over"), first.describe()
            second.send(b"two\n")
            second.wait_out(b"two\n")
            second.close_stdin()
            assert second.finish() == 0, second.describe()
            assert bytes(second.out) == b"ready\none\ntwo\n"
            assert_no_traceback(second.err)
        assert b"two" not in first.out
    assert_nothing_left(remote, name)


def test_another_user_can_neither_list_nor_attach(
    on_sshd: Remote, names: Names, tmp_path: Path
) -> None:
    """rrtest's detached session N: the holder directory is rrtest's, mode 0700; another
    user (rrother) does not see N in ``--sessions``, cannot enter the directory or connect
    to its socket, gets a session of their own from ``--persist N`` (none of rrtest's
    output) and cannot kill rrtest's (1); rrtest still can (0)."""
    env = on_sshd.env
    add_host_aliases(env, ["other-sshd"], user=env.users.other)
    other = sshd_remote(env, env.users.other, "other-sshd")
    name = names.new(on_sshd, "private")
    names.also(other, name)
    with PipeClient(persist(name, on_sshd.alias, "echo secret-output; exec sleep 600"), env) as c:
        c.wait_out(b"secret-output\n")
        c.kill()
    info = on_sshd.holder_dir.stat()
    assert (info.st_uid, info.st_mode & 0o777) == (pwd.getpwnam(env.users.user).pw_uid, 0o700)
    listed = other.sessions()
    assert listed.status == 0, listed.text
    assert name not in listed.text
    socket_path = on_sshd.holder_dir / f"{name}.sock"
    probe = (
        "import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]);"
        " print('connected')"
    )
    for command in (f"ls {on_sshd.holder_dir}", f'python3 -c "{probe}" {socket_path}'):
        tried = subprocess.run(
            env.ssh_args("other-sshd", command),
            capture_output=True,
            stdin=subprocess.DEVNULL,
            env=env.env,
            timeout=30,
        )
        assert tried.returncode != 0 and b"Permission denied" in tried.stderr, tried
        assert b"connected" not in tried.stdout
    own = other.run(*persist(name, other.alias, "echo other-output"), input=b"")
    assert (own.status, own.stdout) == (0, b"other-output\n"), own.text
    refused = other.kill_session(name)
    assert refused.status == 1, refused.text
    listed = on_sshd.sessions()
    assert listed.status == 0 and name in listed.text, listed.text
    assert on_sshd.kill_session(name).status == 0
    assert_nothing_left(on_sshd, name)


# --------------------------------------------------------------------------- listing, killing


def test_sessions_lists_and_kill_session_ends(
    embedded_factory: EmbeddedFactory, embedded_env_factory: ClientEnvFactory, names: Names
) -> None:
    """On a server of the test's own (so the list is exactly ours): none at first; then
    a detached, an attached and an exited (3) session, each on one line under a header with
    its state; --kill-session ends each (0; the attached client ends too), a second time
    1 with a line naming it; nothing is left."""
    server = embedded_factory()
    env = embedded_env_factory(server)
    host = Remote(env, env.user_alias, server.remote_home)
    empty = host.sessions()
    assert empty.status == 0, empty.text
    assert not re.search(r"\b(attached|detached|exited)\b", empty.text), empty.text
    detached, attached, exited = (names.new(host, label) for label in ("det", "att", "ex"))
    live = "echo up; exec sleep 600"
    with contextlib.ExitStack() as stack:
        for each in (detached, exited):
            command = live if each == detached else f"echo up; {waiting_for(each, 'go')}; exit 3"
            client = stack.enter_context(PipeClient(persist(each, host.alias, command), env))
            client.wait_out(b"up\n")
            client.kill()
        touch(host, exited, "go")
        holding = stack.enter_context(PipeClient(persist(attached, host.alias, live), env))
        holding.wait_out(b"up\n")

        def rows() -> dict[str, str]:
            listed = host.sessions()
            assert listed.status == 0, listed.text
            return {n: r for r in listed.stdout.decode().splitlines() for n in names_of(r)}

        def names_of(row: str) -> list[str]:
            return [n for n in (detached, attached, exited) if n in row.split()]

        def settled() -> bool:
            found = rows()
            return (
                re.search(r"\bdetached\b", found.get(detached, "")) is not None
                and re.search(r"\bexited\W{0,2}3\b", found.get(exited, "")) is not None
            )

        wait_until(settled, 30, "--sessions shows the detached and the exited session")
        listed = host.sessions()
        lines = [r for r in listed.stdout.decode().splitlines() if r.strip()]
        assert len(lines) == 4, listed.text  # a header, then one row per session
        found = rows()
        assert re.search(r"\battached\b", found[attached]), listed.text
        for each in (detached, attached, exited):
            assert "echo" in found[each], listed.text  # the COMMAND column
        for each in (detached, exited):
            ended = host.kill_session(each)
            assert ended.status == 0, ended.text
            wait_until(functools.partial(holder_gone, each), 15, f"{each} ended")
        ended = host.kill_session(attached)
        assert ended.status == 0, ended.text
        assert holding.finish(20) != 0, holding.describe()
    for each in (detached, attached, exited):
        again = host.kill_session(each)
        assert again.status == 1, again.text
        assert each in again.text
        assert_nothing_left(host, each)
    final = host.sessions()
    assert final.status == 0 and not any(n in final.text for n in (detached, attached, exited))


# --------------------------------------------------------------------------- exit statuses


@pytest.mark.parametrize(
    ("command", "status"), [("exit 3", 3), ("kill -TERM $$", 128 + 15), ("true", 0)]
)
def test_exit_status_is_the_remote_one(
    on_embedded: Remote, names: Names, command: str, status: int
) -> None:
    """Piped: the remote's status, 128+N when it died of signal N; the holder ends."""
    name = names.new(on_embedded, "rc")
    ran = on_embedded.run(*persist(name, on_embedded.alias, command))
    assert ran.status == status, ran.text
    assert_no_traceback(ran.stderr)
    assert_nothing_left(on_embedded, name)


def test_exit_status_in_a_terminal(on_embedded: Remote, names: Names) -> None:
    """Interactive: the remote shell's ``exit 3`` is ours."""
    name = names.new(on_embedded, "rc-tty")
    with spawn_remoterepl(persist(name, on_embedded.alias), on_embedded.env.env, cols=WIDE) as term:
        term.wait_for_screen(lambda s: s.rstrip().endswith(("$", "#")), timeout=30)
        term.sendline("exit 3")
        assert term.wait_exit(15) == 3
    assert_nothing_left(on_embedded, name)


def test_an_exit_while_detached_is_kept_for_the_next_client(on_sshd: Remote, names: Names) -> None:
    """The remote prints and exits 7 while no client is attached: the next ``--persist N``
    gets the output and the status 7, and the holder then ends."""
    name = names.new(on_sshd, "late")
    command = f"echo early; {waiting_for(name, 'go')}; echo late; exit 7"
    with PipeClient(persist(name, on_sshd.alias, command), on_sshd.env) as first:
        first.wait_out(b"early\n")
        first.kill()
    touch(on_sshd, name, "go")
    wait_until(
        lambda: (
            re.search(rf"{name}\b.*\bexited\W{{0,2}}7\b", on_sshd.sessions().stdout.decode())
            is not None
        ),
        30,
        "--sessions shows the session exited 7",
    )
    ran = on_sshd.run(*persist(name, on_sshd.alias))
    assert (ran.status, ran.stdout) == (7, b"early\nlate\n"), ran.text
    assert_nothing_left(on_sshd, name)


def test_unreachable_host_is_255_with_one_line(on_embedded: Remote, names: Names) -> None:
    """Nothing listens at the destination: --persist, --sessions and --kill-session each
    exit 255 with one line, at once (no reconnecting: the link never was)."""
    add_host_aliases(on_embedded.env, ["nowhere"], port=free_port())
    name = names.new(on_embedded, "nowhere")
    for args in (
        persist(name, "nowhere", "true"),
        ["--sessions", "nowhere"],
        ["--kill-session", name, "nowhere"],
    ):
        started = time.monotonic()
        ran = on_embedded.run(*args, timeout=30)
        assert ran.status == 255, (args, ran.text)
        assert_one_line_error(ran.stderr)
        assert time.monotonic() - started < 15


@pytest.mark.parametrize("bad", ["", "-x", "a/b", "x" * 65, "white space"])
def test_a_bad_session_name_is_a_usage_error(on_embedded: Remote, bad: str) -> None:
    """A name the holder would refuse is refused before connecting: status 2, one line."""
    ran = on_embedded.run("--persist", bad, on_embedded.alias, "true")
    assert ran.status == 2, ran.text
    assert_no_traceback(ran.stderr)


# --------------------------------------------------------------------------- as without --persist


def test_ctrl_c_interrupts_bc_and_the_session_goes_on(on_sshd: Remote, names: Names) -> None:
    """Ctrl-C stops a long bc loop in a persisted session (as without --persist); the next
    line answers and the variable set before is kept."""
    name = names.new(on_sshd, "intr")
    args = persist(name, on_sshd.alias, "bc")
    with spawn_remoterepl(args, on_sshd.env.env, cols=WIDE) as term:
        term.wait_for_screen("bc>", timeout=30)
        term.sendline("k = 5")
        term.sendline("k")
        term.wait_for_screen(answered("5"))
        term.sendline("for(i=0;i<10^9;i++){}")
        term.wait_for_screen("for(i=0;i<10^9;i++){}")
        term.sendcontrol("c")
        term.sendline("k * 3")
        term.wait_for_screen(answered("15"), timeout=15)
        term.sendline("quit")
        assert term.wait_exit(15) == 0
    assert_nothing_left(on_sshd, name)


def test_reattach_from_another_terminal_size(on_embedded: Remote, names: Names) -> None:
    """The session made in an 80x24 terminal, reattached from a 120x40 one: the remote's
    ``stty size`` says 40 120 (the new client's size reaches the holder's PTY)."""
    name = names.new(on_embedded, "size")
    args = persist(name, on_embedded.alias)
    with spawn_remoterepl(args, on_embedded.env.env) as term:
        term.wait_for_screen(lambda s: s.rstrip().endswith(("$", "#")), timeout=30)
        term.sendline("stty size")
        term.wait_for_screen(answered("24 80"))
        os.kill(term.child.pid, signal.SIGKILL)
        term.wait_exit()
    with spawn_remoterepl(args, on_embedded.env.env, rows=40, cols=120) as term:
        term.wait_for_screen(answered("24 80"), timeout=30)
        term.sendline("stty size")
        term.wait_for_screen(answered("40 120"))
        term.sendline("exit")
        assert term.wait_exit(15) == 0
    assert_nothing_left(on_embedded, name)


def test_a_closed_terminal_leaves_the_session_running(on_sshd: Remote, names: Names) -> None:
    """SIGHUP to the client (its terminal closed): the client ends, the session is listed
    as detached and a reattach finds bc's state."""
    name = names.new(on_sshd, "hup")
    args = persist(name, on_sshd.alias, "bc")
    with spawn_remoterepl(args, on_sshd.env.env, cols=WIDE) as term:
        term.wait_for_screen("bc>", timeout=30)
        term.sendline("h = 99")
        term.sendline("h")
        term.wait_for_screen(answered("99"))
        os.kill(term.child.pid, signal.SIGHUP)
        term.wait_exit(15)

    def detached() -> bool:
        rows = [r for r in on_sshd.sessions().stdout.decode().splitlines() if name in r]
        return len(rows) == 1 and re.search(r"\bdetached\b", rows[0]) is not None

    wait_until(detached, 30, "--sessions lists the session as detached")
    with spawn_remoterepl(args, on_sshd.env.env, cols=WIDE) as term:
        term.wait_for_screen(answered("99"), timeout=30)
        term.sendline("h + 1")
        term.wait_for_screen(answered("100"))
        term.sendline("quit")
        assert term.wait_exit(15) == 0
    assert_nothing_left(on_sshd, name)


def test_takeover_in_a_terminal(on_embedded: Remote, names: Names) -> None:
    """Interactive: a second client attaches; the first one's screen says "taken over",
    it exits 255; the second one goes on with bc's state."""
    name = names.new(on_embedded, "take-tty")
    args = persist(name, on_embedded.alias, "bc")
    with spawn_remoterepl(args, on_embedded.env.env, cols=WIDE) as first:
        first.wait_for_screen("bc>", timeout=30)
        first.sendline("t = 7")
        first.sendline("t")
        first.wait_for_screen(answered("7"))
        with spawn_remoterepl(args, on_embedded.env.env, cols=WIDE) as second:
            second.wait_for_screen(answered("7"), timeout=30)
            first.wait_for_screen(lambda s: bool(rows_with(s, "taken over")), timeout=15)
            assert first.wait_exit(15) == 255
            second.sendline("t * 6")
            second.wait_for_screen(answered("42"))
            second.sendline("quit")
            assert second.wait_exit(15) == 0
    assert_nothing_left(on_embedded, name)


def test_two_clients_creating_one_name_at_once_make_one_session(
    on_sshd: Remote, names: Names
) -> None:
    """Two ``--persist N`` started together for a new N: one session (one remote shell:
    what both show is its pid, or nothing for a client taken over before its replay),
    one client took it over from the other (255, "taken over"), the other goes on."""
    name = names.new(on_sshd, "race")
    args = persist(name, on_sshd.alias, "echo pid $$; exec cat")
    with PipeClient(args, on_sshd.env) as one, PipeClient(args, on_sshd.env) as two:
        clients = (one, two)

        def settled() -> bool:
            ended = [c for c in clients if c.proc.poll() is not None]
            return len(ended) >= 1 and any(b"pid " in c.out for c in clients if c not in ended)

        wait_until(settled, 30, "one client taken over, the other showing the session")
        (ended,) = [c for c in clients if c.proc.poll() is not None]
        (live,) = [c for c in clients if c is not ended]
        assert ended.finish() == 255 and ended.err_lines("taken over"), ended.describe()
        shown = bytes(live.out)
        assert re.fullmatch(rb"pid \d+\n", shown), live.describe()
        assert bytes(ended.out) in (b"", shown), (ended.describe(), live.describe())
        live.send(b"still here\n")
        live.wait_out(b"still here\n")
        live.close_stdin()
        assert live.finish() == 0, live.describe()
    assert_nothing_left(on_sshd, name)
