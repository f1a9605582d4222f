"""The session holder of ``--persist`` (remoterepl/persist/holder.py), run locally as the
client runs it remotely: ``python3 -c <bootstrap> attach NAME`` with frames on its stdin and
stdout, sessions in a tmp ``REMOTEREPL_HOLDER_DIR``. Relays are killed with SIGKILL to cut
the link; every test leaves the directory empty and no daemon behind.

``REMOTEREPL_HOLDER_PYTHON=/path/to/python3.6`` runs the holder with another interpreter."""

from __future__ import annotations

import ast
import base64
import contextlib
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from remoterepl.persist import holder
from remoterepl.persist.holder import FrameReader, frame

SOURCE = Path(holder.__file__).read_bytes()
PACKED = base64.b64encode(zlib.compress(SOURCE, 9)).decode()
BOOTSTRAP = f'import zlib,base64;exec(zlib.decompress(base64.b64decode("{PACKED}")))'
PYTHON = os.environ.get("REMOTEREPL_HOLDER_PYTHON", sys.executable)
PTY = {"term": "xterm", "cols": 80, "rows": 24}
TIMEOUT = 10.0


def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll a condition of another process (a file, a pid) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")


class Relay:
    """One ``attach NAME``: frames in, frames out (read by a thread, kept in order)."""

    def __init__(self, env: dict[str, str], name: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-c", BOOTSTRAP, "attach", name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
        self.cond = threading.Condition()
        self.out = bytearray()
        self.err = bytearray()
        self.frames: list[tuple[bytes, bytes]] = []  # everything but OUT and ERR
        self.kinds: list[bytes] = []  # every frame's kind, in order
        self.eof = False
        self.seen = 0
        self.write_lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        reader = FrameReader()
        while data := os.read(self.proc.stdout.fileno(), 65536):
            with self.cond:
                for kind, payload in reader.feed(data):
                    self.kinds.append(kind)
                    if kind == holder.OUT:
                        self.out += payload
                    elif kind == holder.ERR:
                        self.err += payload
                    else:
                        self.frames.append((kind, payload))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def send(self, kind: bytes, payload: bytes = b"") -> None:
        """Write one frame (the writer and the ACK thread share the pipe)."""
        assert self.proc.stdin is not None
        with self.write_lock:
            self.proc.stdin.write(frame(kind, payload))
            self.proc.stdin.flush()

    def hello(self, **fields: Any) -> dict[str, Any]:
        """Send HELLO (a new pipe session's defaults) and return the WELCOME."""
        hello = {"v": 1, "client": "c0", "command": None, "pty": None, "out": None}
        hello.update({"err": None, "buffer": None, "expire": None})
        hello.update(fields)
        self.send(holder.HELLO, json.dumps(hello).encode())
        welcome: dict[str, Any] = json.loads(self.expect(holder.WELCOME))
        return welcome

    def wait(self, condition: Callable[[Relay], bool], what: str, timeout: float = TIMEOUT) -> None:
        with self.cond:
            done = self.cond.wait_for(lambda: condition(self), timeout)
        assert done, f"timed out on {what}: out={bytes(self.out[-400:])!r} {self.frames[-6:]}"

    def expect(self, kind: bytes, timeout: float = TIMEOUT) -> bytes:
        """The payload of the next frame of ``kind`` not expected before."""

        def found(relay: Relay) -> bool:
            return any(k == kind for k, _ in relay.frames[relay.seen :]) or relay.eof

        self.wait(found, f"a {kind!r} frame", timeout)
        for index in range(self.seen, len(self.frames)):
            if self.frames[index][0] == kind:
                self.seen = index + 1
                return self.frames[index][1]
        raise AssertionError(f"no {kind!r} frame before EOF: {self.frames}")

    def output(self, text: bytes, timeout: float = TIMEOUT) -> None:
        self.wait(lambda relay: text in relay.out, f"{text!r} in the output", timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.finish()

    def finish(self) -> int:
        """Wait for the relay to end; its exit status."""
        status = self.proc.wait(TIMEOUT)
        self.thread.join(TIMEOUT)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        return status


class Holder:
    """Sessions in one tmp directory: relays, and the ``list`` / ``kill`` commands."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "sessions"
        self.cwd = tmp_path
        self.env = {**os.environ, "REMOTEREPL_HOLDER_DIR": str(self.dir)}
        self.relays: list[Relay] = []

    def attach(self, name: str = "s1") -> Relay:
        relay = Relay(self.env, name, self.cwd)
        self.relays.append(relay)
        return relay

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PYTHON, "-c", BOOTSTRAP, *args],
            capture_output=True,
            text=True,
            env=env or self.env,
            timeout=TIMEOUT + 5,
        )

    def sessions(self) -> list[dict[str, Any]]:
        proc = self.run("list")
        assert proc.returncode == 0, proc.stderr
        return [json.loads(line) for line in proc.stdout.splitlines()]

    def empty(self) -> bool:
        return not self.dir.exists() or not any(self.dir.iterdir())

    def cleanup(self) -> None:
        for relay in self.relays:
            if relay.proc.poll() is None:
                relay.kill()
        left = self.sessions() if self.dir.is_dir() else []
        for session in left:
            self.run("kill", session["name"])
        pids = [session["pid"] for session in left]
        wait_until(lambda: not any(alive(pid) for pid in pids), "the daemons to end")
        wait_until(self.empty, "an empty session directory")
        assert not left, f"sessions left behind: {left}"


@pytest.fixture
def hold(tmp_path: Path) -> Iterator[Holder]:
    holder_dir = Holder(tmp_path)
    yield holder_dir
    holder_dir.cleanup()


def exit_info(relay: Relay) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(relay.expect(holder.EXIT))
    return info


def collect(relay: Relay) -> None:
    """COLLECTED after EXIT: the daemon ends and the relay with it."""
    relay.send(holder.COLLECTED)
    assert relay.finish() == 0


def tty_state(relay: Relay, condition: Callable[[list[str]], bool]) -> list[str]:
    """Wait for a TTY frame whose fields meet the condition."""
    while True:
        fields = relay.expect(holder.TTY).decode().split(" ", 3)
        if condition(fields):
            return fields


# -- the codec and the file itself


def test_codec_round_trips_in_any_split_and_refuses_oversized_frames() -> None:
    stream = frame(holder.HELLO, b'{"v":1}') + frame(holder.DATA, b"x" * 70000) + frame(b"E")
    reader = FrameReader()
    got = [
        item
        for index in range(0, len(stream), 7)
        for item in reader.feed(stream[index : index + 7])
    ]
    assert got == [(b"H", b'{"v":1}'), (b"D", b"x" * 70000), (b"E", b"")]
    assert holder.HEADER.size == 5 and holder.PROTOCOL == 1
    with pytest.raises(ValueError):
        FrameReader().feed(holder.HEADER.pack(ord("D"), holder.MAX_PAYLOAD + 1))
    with pytest.raises(ValueError):
        frame(holder.DATA, b"x" * (holder.MAX_PAYLOAD + 1))


def test_source_is_python36_and_import_has_no_effect(tmp_path: Path) -> None:
    """The holder parses as Python 3.6 and importing it runs nothing."""
    tree = ast.parse(SOURCE, feature_version=(3, 6))
    future = [
        n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "__future__"
    ]
    assert not future
    env = {**os.environ, "HOME": str(tmp_path), "REMOTEREPL_HOLDER_DIR": str(tmp_path / "d")}
    proc = subprocess.run(
        [sys.executable, "-c", "import remoterepl.persist.holder"],
        capture_output=True,
        env=env,
        timeout=TIMEOUT,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert sorted(os.listdir(tmp_path)) == []


# -- sessions


def test_create_output_exit_collect(hold: Holder) -> None:
    relay = hold.attach()
    welcome = relay.hello(command="pwd; echo oops >&2; exit 3")
    assert welcome["created"] is True and welcome["pty"] is False
    assert (welcome["in"], welcome["out"], welcome["err"]) == (0, 0, 0)
    assert exit_info(relay) == {"status": 3, "signal": None, "core": False}
    assert (bytes(relay.out), bytes(relay.err)) == (f"{hold.cwd}\n".encode(), b"oops\n")
    assert sorted(os.listdir(hold.dir)) == ["s1.lock", "s1.sock"]
    collect(relay)
    assert hold.empty()


def test_login_shell_when_no_command(hold: Holder) -> None:
    relay = hold.attach()
    relay.hello(command=None)
    relay.send(holder.DATA, b'echo "argv0=$0"; exit 7\n')
    assert exit_info(relay)["status"] == 7
    shell = os.path.basename(pwd.getpwuid(os.getuid()).pw_shell or "/bin/sh")
    assert relay.out.endswith(f"argv0=-{shell}\n".encode())
    collect(relay)


@pytest.mark.skipif(shutil.which("bc") is None, reason="bc is not installed")
def test_bc_state_survives_a_killed_relay(hold: Holder) -> None:
    first = hold.attach()
    first.hello(command="bc")
    first.send(holder.DATA, b"x=41\nx+1\n")
    first.output(b"42\n")
    first.kill()
    second = hold.attach()
    welcome = second.hello(command="bc")
    assert (welcome["created"], welcome["in"], welcome["out"]) == (False, 9, 0)
    second.output(b"42\n")  # the replay of everything held
    second.send(holder.DATA, b"x*2\n")
    second.output(b"42\n82\n")
    second.send(holder.EOF)
    assert exit_info(second)["status"] == 0
    assert bytes(second.out) == b"42\n82\n"
    collect(second)


class Client:
    """A reconnecting client: resends input from WELCOME's ``in``, asks for output from
    what it holds, ACKs what it receives."""

    def __init__(self, hold: Holder, **fields: Any) -> None:
        self.hold = hold
        self.fields = fields
        self.input = b""
        self.out = bytearray()
        self.err = bytearray()
        self.gaps: list[tuple[int, int]] = []
        self.relay: Relay | None = None
        self.ack = False

    def attach(self) -> dict[str, Any]:
        if self.relay is not None:
            self.harvest()
        self.relay = relay = self.hold.attach()
        fresh = not self.out and not self.err and not self.input
        offsets = {} if fresh else {"out": len(self.out), "err": len(self.err)}
        self.base = (len(self.out), len(self.err))  # the replay starts there: no GAP in a pipe
        welcome = relay.hello(client="tester", **self.fields, **offsets)
        assert self.base == (welcome["out"], welcome["err"])
        if self.ack:
            threading.Thread(target=self._acknowledge, args=(relay,), daemon=True).start()
        self.accepted = welcome["in"]
        return welcome

    def _acknowledge(self, relay: Relay) -> None:
        """ACK what arrives, in a thread of its own: the writer may block on a full pipe
        while the daemon waits for an ACK (it reads the input then, to find it)."""
        acked = (0, 0)
        while True:
            with relay.cond:
                relay.cond.wait_for(lambda: relay.eof or (len(relay.out), len(relay.err)) != acked)  # noqa: B023
                if relay.eof:
                    return
                acked = (len(relay.out), len(relay.err))
            offsets = (self.base[0] + acked[0], self.base[1] + acked[1])
            try:
                relay.send(holder.ACK, holder.ACK_PAYLOAD.pack(*offsets))
            except (OSError, ValueError):
                return

    def send(self, data: bytes) -> None:
        """Queue input and send what the daemon has not accepted yet."""
        self.input += data
        self.resend()

    def resend(self) -> None:
        assert self.relay is not None
        view = memoryview(self.input)
        for start in range(self.accepted, len(self.input), 65536):
            self.relay.send(holder.DATA, bytes(view[start : start + 65536]))

    def harvest(self) -> None:
        """Kill the relay (the link drops) and keep the complete frames it delivered."""
        assert self.relay is not None
        self.relay.kill()
        self.out += self.relay.out
        self.err += self.relay.err
        self.relay = None


def test_reconnect_with_offsets_loses_and_duplicates_nothing(hold: Holder) -> None:
    client = Client(hold, command="sh")
    client.attach()
    client.send(b"echo one; echo e1 >&2\n")
    assert client.relay is not None
    client.relay.output(b"one\n")
    client.relay.send(holder.DATA, b"echo two; echo e2 >&2\n")  # may die with the relay
    client.input += b"echo two; echo e2 >&2\n"
    client.harvest()
    welcome = client.attach()
    assert welcome["created"] is False
    client.resend()
    relay = client.relay
    assert relay is not None
    relay.wait(lambda r: (client.out + r.out).endswith(b"two\n"), "two")
    relay.wait(lambda r: (client.err + r.err).endswith(b"e2\n"), "e2")
    relay.send(holder.DATA, b"exit 5\n")
    assert exit_info(relay)["status"] == 5
    assert bytes(client.out + relay.out) == b"one\ntwo\n"
    assert bytes(client.err + relay.err) == b"e1\ne2\n"
    collect(relay)


def test_pty_reconnect_older_than_the_buffer_gets_a_gap(hold: Holder) -> None:
    first = hold.attach()
    command = "head -c 300000 /dev/zero | tr '\\0' x; echo; echo done"
    first.hello(command=command, pty=PTY, buffer=65536)
    assert exit_info(first)["status"] == 0
    total = len(first.out)
    assert total >= 300000 and first.out.endswith(b"done\r\n")
    first.kill()
    second = hold.attach()
    welcome = second.hello(pty=PTY, out=0, err=0)
    assert welcome["created"] is False and welcome["pty"] is True
    lost = holder.GAP_PAYLOAD.unpack(second.expect(holder.GAP))
    assert exit_info(second)["status"] == 0
    assert lost == (0, total - 65536) and welcome["out"] == total - 65536
    assert bytes(second.out) == bytes(first.out[-65536:])
    assert second.kinds.index(holder.GAP) < second.kinds.index(holder.OUT)
    collect(second)


@pytest.mark.parametrize("buffer", [None, 65536], ids=["1MiB", "64KiB"])
def test_pipe_session_16_mib_through_cat_across_two_relay_kills(
    hold: Holder, buffer: int | None
) -> None:
    """A small buffer keeps cat's output waiting for ACKs behind the input: no deadlock."""
    data = os.urandom(16 * 1024 * 1024 + 12345)
    client = Client(hold, command="cat", buffer=buffer)
    client.ack = True
    resumed = []
    for cut in (3 * 1024 * 1024, 9 * 1024 * 1024, None):
        welcome = client.attach()
        resumed.append((welcome["created"], welcome["in"] > 0, welcome["out"] > 0))
        relay = client.relay
        assert relay is not None
        writer = threading.Thread(target=_send_all, args=(client, data, cut is None))
        writer.start()
        if cut is not None:
            held = len(client.out)
            relay.wait(lambda r: held + len(r.out) >= cut, "output", 30)  # noqa: B023
            client.harvest()
        writer.join(30)
        assert not writer.is_alive()
    relay = client.relay
    assert relay is not None
    relay.wait(lambda r: any(k == holder.EXIT for k, _ in r.frames), "EXIT", 30)
    output = bytes(client.out + relay.out)
    assert len(output) == len(data)
    assert hashlib.sha256(output).digest() == hashlib.sha256(data).digest()
    assert client.input == data
    assert resumed == [(True, False, False), (False, True, True), (False, True, True)]
    collect(relay)


def _send_all(client: Client, data: bytes, last: bool) -> None:
    """The writer of one attachment: everything from ``in`` (then EOF on the last)."""
    relay = client.relay
    assert relay is not None
    client.input = data
    try:
        client.resend()
        if last:
            relay.send(holder.EOF)
    except (OSError, ValueError):
        pass  # the relay was killed under us: the next attachment resends


def test_takeover_detaches_the_old_client(hold: Holder) -> None:
    first = hold.attach()
    first.hello(command="sh", client="one")
    second = hold.attach()
    welcome = second.hello(command="sh", client="two")
    assert welcome["created"] is False
    assert first.expect(holder.TAKEN) == b""
    assert first.finish() == 0
    assert hold.sessions()[0]["state"] == "attached"
    second.send(holder.DATA, b"exit\n")
    assert exit_info(second)["status"] == 0
    collect(second)


def test_probe_list_and_kill(hold: Holder) -> None:
    assert hold.sessions() == []
    relay = hold.attach("busy")
    welcome = relay.hello(command="sleep 1000")
    (session,) = hold.sessions()
    assert {k: session[k] for k in ("v", "name", "command", "pty", "state", "status")} == {
        "v": 1,
        "name": "busy",
        "command": "sleep 1000",
        "pty": False,
        "state": "attached",
        "status": None,
    }
    assert session["child"] == welcome["pid"] and alive(session["pid"]) and session["held"] == 0
    assert relay.proc.stdin is not None
    relay.proc.stdin.close()  # the link's EOF: the relay ends, the session goes on
    assert relay.finish() == 0
    wait_until(lambda: hold.sessions()[0]["state"] == "detached", "a detached session")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(hold.dir / "stale.sock"))
    stale.close()  # nobody listens: list removes it
    assert [s["name"] for s in hold.sessions()] == ["busy"]
    assert sorted(os.listdir(hold.dir)) == ["busy.lock", "busy.sock"]
    killed = hold.run("kill", "busy")
    assert (killed.returncode, killed.stderr) == (0, "")
    assert hold.empty()
    wait_until(lambda: not alive(session["child"]) and not alive(session["pid"]), "the end")
    again = hold.run("kill", "busy")
    assert again.returncode == 1 and "no session busy" in again.stderr


def test_kill_frame_ends_a_pty_session_and_sigterm_acts_as_kill(hold: Holder) -> None:
    relay = hold.attach("pty")
    relay.hello(command="sleep 1000", pty=PTY)
    assert hold.run("kill", "pty").returncode == 0
    relay.wait(lambda r: r.eof, "the relay's end")
    assert hold.empty()
    other = hold.attach("term")
    other.hello(command="sleep 1000")
    (session,) = hold.sessions()
    os.kill(session["pid"], signal.SIGTERM)
    info = exit_info(other)
    assert info["signal"] in ("HUP", "KILL")
    other.wait(lambda r: r.eof, "the relay's end")
    wait_until(hold.empty, "an empty directory")


def test_version_mismatch_is_answered_with_an_error_frame(hold: Holder) -> None:
    relay = hold.attach()
    relay.send(holder.HELLO, json.dumps({"v": 2, "client": "x"}).encode())
    error = json.loads(relay.expect(holder.ERROR))
    assert (error["error"], error["holder"]) == ("version", 1)
    assert relay.finish() == holder.EXIT_USAGE
    assert relay.proc.stderr is not None
    assert hold.empty()
    live = hold.attach()
    live.hello(command="sleep 1000")
    direct = socket.socket(socket.AF_UNIX)  # the daemon checks too, behind the relay
    direct.connect(str(hold.dir / "s1.sock"))
    direct.sendall(frame(holder.HELLO, b'{"v":0}') + frame(holder.DATA, b"ignored"))
    answer = FrameReader()
    got: list[tuple[bytes, bytes]] = []
    direct.settimeout(TIMEOUT)
    while data := direct.recv(65536):
        got += answer.feed(data)
    direct.close()
    assert [kind for kind, _ in got] == [holder.ERROR]
    assert json.loads(got[0][1])["error"] == "version"
    assert hold.run("kill", "s1").returncode == 0


def _refused(proc: subprocess.CompletedProcess[str]) -> bool:
    return proc.returncode == holder.EXIT_USAGE and proc.stderr.startswith("remoterepl-holder: ")


def test_directory_refusals(hold: Holder, tmp_path: Path) -> None:
    cases = {"open": tmp_path / "open", "link": tmp_path / "link"}
    cases["open"].mkdir(mode=0o755)
    cases["open"].chmod(0o755)
    (tmp_path / "target").mkdir(mode=0o700)
    cases["link"].symlink_to(tmp_path / "target")
    if os.getuid() == 0:
        cases["foreign"] = tmp_path / "foreign"
        cases["foreign"].mkdir(mode=0o700)
        os.chown(cases["foreign"], 65534, 65534)
    for what, path in cases.items():
        env = {**hold.env, "REMOTEREPL_HOLDER_DIR": str(path)}
        for args in (["attach", "s1"], ["list"], ["kill", "s1"]):
            proc = hold.run(*args, env=env)
            assert _refused(proc), (what, args, proc)
        assert not any((tmp_path / "target").iterdir()) and not any(path.iterdir()), what
    nested = hold.run("list", env={**hold.env, "REMOTEREPL_HOLDER_DIR": str(tmp_path / "a/b")})
    assert nested.returncode == 0 and (tmp_path / "a/b").stat().st_mode & 0o777 == 0o700


def test_bad_names_and_usage_are_refused(hold: Holder) -> None:
    for name in ("", "../x", "-x", ".x", "a/b", "a b", "a" * 65, "é"):
        for command in ("attach", "kill"):
            assert _refused(hold.run(command, name)), (command, name)
    assert _refused(hold.run()) and _refused(hold.run("attach"))
    assert hold.empty()


def test_tty_reports_follow_the_foreground_job(hold: Holder) -> None:
    relay = hold.attach()
    relay.hello(command="sh", pty=PTY)
    tty_state(relay, lambda fields: fields[2] == "1")  # sh itself reads the terminal
    relay.send(holder.DATA, b"cat\n")
    assert tty_state(relay, lambda fields: fields[3] == "cat") == ["1", "1", "0", "cat"]
    relay.send(holder.DATA, b"\x04")
    tty_state(relay, lambda fields: fields[2] == "1")
    relay.send(holder.DATA, b"exit\n")
    assert exit_info(relay)["status"] == 0
    collect(relay)


def test_signal_int_reaches_the_foreground_job(hold: Holder) -> None:
    relay = hold.attach()
    relay.hello(command="sh", pty=PTY)
    relay.send(holder.DATA, b"sleep 30\n")
    tty_state(relay, lambda fields: fields[3] == "sleep")
    relay.send(holder.SIGNAL, b"INT")
    tty_state(relay, lambda fields: fields[2] == "1")
    relay.send(holder.DATA, b"echo rc=$?\n")
    relay.output(b"rc=130")
    relay.send(holder.SIGNAL, b"NOSUCH")  # ignored
    relay.send(holder.DATA, b"exit\n")
    assert exit_info(relay)["status"] == 0
    collect(relay)


def test_winch_is_seen_by_stty(hold: Holder) -> None:
    relay = hold.attach()
    relay.hello(command="sh", pty=PTY)
    relay.send(holder.DATA, b"stty size\n")
    relay.output(b"24 80\r\n")
    relay.send(holder.WINCH, holder.WINCH_PAYLOAD.pack(100, 40))
    relay.send(holder.DATA, b"stty size\n")
    relay.output(b"40 100\r\n")
    relay.send(holder.DATA, b"exit\n")
    assert exit_info(relay)["status"] == 0
    collect(relay)


def test_an_exited_session_nobody_collects_expires(hold: Holder) -> None:
    relay = hold.attach()
    relay.hello(command="exit 4", expire=1)
    assert exit_info(relay)["status"] == 4
    relay.send(holder.DETACH)
    assert relay.finish() == 0
    (session,) = hold.sessions()
    assert (session["state"], session["status"]) == ("exited", 4)
    wait_until(hold.empty, "the session to expire", timeout=5)
    wait_until(lambda: not alive(session["pid"]), "the daemon to end")


def test_stale_socket_is_replaced_and_a_daemon_that_cannot_start_exits_4(hold: Holder) -> None:
    hold.dir.mkdir(mode=0o700)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(hold.dir / "s1.sock"))
    stale.close()  # nobody listens: the relay removes it and creates the session
    relay = hold.attach()
    assert relay.hello(command="sleep 1000")["created"] is True
    relay.send(holder.SIGNAL, b"TERM")  # a pipe session: to the process group
    assert exit_info(relay) == {"status": None, "signal": "TERM", "core": False}
    collect(relay)
    (hold.dir / "s2.sock").mkdir()  # not a socket, and not removable: bind() fails
    broken = hold.attach("s2")
    broken.send(holder.HELLO, json.dumps({"v": 1, "client": "c"}).encode())
    assert broken.proc.stderr is not None
    stderr = broken.proc.stderr.read().decode()
    assert broken.finish() == holder.EXIT_START
    assert stderr.startswith("remoterepl-holder: cannot start session s2"), stderr
    (hold.dir / "s2.sock").rmdir()
    assert hold.empty()


def _closed_at_once(path: Path, data: bytes) -> list[bytes]:
    """Connect straight to a daemon, send ``data``: the kinds it answers before closing."""
    direct = socket.socket(socket.AF_UNIX)
    direct.connect(str(path))
    direct.settimeout(TIMEOUT)
    direct.sendall(data)
    reader = FrameReader()
    kinds: list[bytes] = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := direct.recv(65536):
            kinds += [kind for kind, _ in reader.feed(chunk)]
    direct.close()
    return kinds


def test_malformed_frames_close_that_client_and_the_session_goes_on(hold: Holder) -> None:
    relay = hold.attach()
    relay.hello(command="cat")
    sock = hold.dir / "s1.sock"
    oversized = holder.HEADER.pack(ord("D"), holder.MAX_PAYLOAD + 1)
    assert _closed_at_once(sock, oversized) == []
    assert _closed_at_once(sock, frame(b"?", b"")) == []
    assert _closed_at_once(sock, frame(holder.HELLO, b"{not json")) == [holder.ERROR]
    welcome = frame(holder.HELLO, json.dumps({"v": 1, "client": "z"}).encode())
    # A HELLO then garbage: that client takes over, then is closed (maybe before WELCOME).
    assert _closed_at_once(sock, welcome + frame(b"?")) in ([], [holder.WELCOME])
    assert relay.expect(holder.TAKEN) == b""  # the well-formed HELLO took over
    again = hold.attach()
    assert again.hello(command="cat", client="c0")["in"] == 0
    again.send(holder.DATA, b"still here\n")
    again.output(b"still here\n")
    again.send(holder.EOF)
    assert exit_info(again)["status"] == 0
    collect(again)


def test_a_reconnect_never_creates_a_session(hold: Holder) -> None:
    """``create: false`` (a client reconnecting): no session of that name is an error frame,
    never a new process running the command a second time."""
    relay = hold.attach()
    relay.send(holder.HELLO, json.dumps({"v": 1, "client": "c", "create": False}).encode())
    assert json.loads(relay.expect(holder.ERROR))["error"] == "gone"
    assert relay.finish() == 1
    assert hold.empty()
    live = hold.attach()
    live.hello(command="sleep 1000")
    again = hold.attach()
    assert not again.hello(command="sleep 1000", create=False)["created"]  # it lives: attach
    assert live.expect(holder.TAKEN) == b""
    assert hold.run("kill", "s1").returncode == 0


def test_a_resume_after_another_client_attached_is_refused(hold: Holder) -> None:
    """A client whose link died must not take the session back from the one that attached
    since: its resume carries the token of its own attachment, now stale."""
    first = hold.attach()
    token = first.hello(command="sleep 1000")["token"]
    second = hold.attach()
    newer = second.hello(command="sleep 1000", out=0, err=0)["token"]
    assert first.expect(holder.TAKEN) == b"" and newer != token
    late = hold.attach()
    late.send(holder.HELLO, json.dumps({"v": 1, "client": "c0", "token": token}).encode())
    assert json.loads(late.expect(holder.ERROR))["error"] == "taken"
    assert late.finish() != 0 or late.eof
    assert hold.sessions()[0]["state"] == "attached"  # the newer client keeps it
    resumed = hold.attach()
    resumed.hello(command="sleep 1000", out=0, err=0, token=newer)  # its own: welcome
    assert hold.run("kill", "s1").returncode == 0


def test_input_is_acknowledged_only_once_the_process_has_it(hold: Holder) -> None:
    """INACK counts what reached the process: a client sending into a stalled ``cat`` (its
    output unread, unacknowledged) sees the count stop, so the daemon never holds the input."""
    relay = hold.attach()
    relay.hello(command="cat", buffer=65536)
    chunk = b"x" * 65536
    for _ in range(64):  # 4 MiB: far more than a pipe and the buffer take
        relay.send(holder.DATA, chunk)
    relay.wait(lambda r: len(r.out) >= 65536, "the first output")
    counts: list[int] = []

    def settled(r: Relay) -> bool:
        counts[:] = [holder.INACK_PAYLOAD.unpack(p)[0] for k, p in r.frames if k == holder.INACK]
        return bool(counts)

    relay.wait(settled, "an INACK")
    time.sleep(0.5)  # give the daemon time to (wrongly) read on: the count must stay low
    relay.wait(settled, "the INACKs")
    assert max(counts) < 3 << 20, counts  # what cat, two pipes and the buffer hold, no more
    assert hold.run("kill", "s1").returncode == 0


def test_an_exited_session_waiting_for_an_ack_sleeps_and_expires(hold: Holder) -> None:
    """Output beyond the buffer nobody acknowledges, the process gone: the daemon waits
    idle (no busy loop) and the session still expires."""
    relay = hold.attach()
    # more than the buffer, less than the buffer and a pipe: head ends, unacknowledged
    relay.hello(command="head -c 100000 /dev/zero", buffer=65536, expire=2)
    relay.wait(lambda r: len(r.out) >= 65536, "output up to the buffer")
    relay.kill()  # nobody reads, nobody ACKs
    wait_until(lambda: hold.sessions()[0]["state"] == "exited", "the exit")
    (session,) = hold.sessions()
    pid = session["pid"]
    with open(f"/proc/{pid}/stat") as f:
        before = sum(int(n) for n in f.read().rpartition(")")[2].split()[11:13])
    time.sleep(1.0)
    with open(f"/proc/{pid}/stat") as f:
        after = sum(int(n) for n in f.read().rpartition(")")[2].split()[11:13])
    assert after - before < 20, "the daemon spins"  # clock ticks (1/100 s) in a second
    wait_until(lambda: not alive(pid), "the expiry", timeout=15)


def test_list_leaves_a_session_that_is_slow_to_answer(hold: Holder) -> None:
    relay = hold.attach()
    relay.hello(command="sleep 1000")
    (session,) = hold.sessions()
    os.kill(session["pid"], signal.SIGSTOP)
    try:
        (slow,) = hold.sessions()
        assert slow["state"] == "not answering"
        assert (hold.dir / "s1.sock").exists()
    finally:
        os.kill(session["pid"], signal.SIGCONT)
    assert hold.sessions()[0]["state"] == "attached"
    assert hold.run("kill", "s1").returncode == 0
