"""The remote session holder (issue 15): relay, daemon, ``list``, ``kill`` and the wire codec.

Sent inside the exec request and run by the remote host's python3 (3.6+, stdlib only):
``attach NAME`` relays the SSH channel to the session's daemon (starting it when there is
none), ``list`` and ``kill NAME`` manage the sessions. The client imports it for the codec.
"""

import binascii
import errno
import fcntl
import json
import os
import pwd
import re
import select
import selectors
import signal
import socket
import stat
import struct
import subprocess
import sys
import termios
import time
from collections import OrderedDict
from contextlib import suppress
from typing import Any, Dict, List, Optional, Tuple

PROTOCOL = 1
HEADER = struct.Struct(">BI")
MAX_PAYLOAD = 1 << 20

# Client -> daemon.
HELLO = b"H"
DATA = b"D"
EOF = b"E"
SIGNAL = b"S"
WINCH = b"W"
ACK = b"A"
DETACH = b"X"
COLLECTED = b"C"
PROBE = b"P"
KILL = b"K"
# Daemon -> client (PROBE and KILL are answered with their own kind).
WELCOME = b"W"
GAP = b"G"
OUT = b"O"
ERR = b"R"
INACK = b"I"
TTY = b"T"
EXIT = b"Z"
TAKEN = b"Q"
ERROR = b"!"

WINCH_PAYLOAD = struct.Struct(">HH")  # cols, rows
ACK_PAYLOAD = struct.Struct(">QQ")  # out, err
GAP_PAYLOAD = struct.Struct(">BQ")  # stream (0 out, 1 err), bytes lost
INACK_PAYLOAD = struct.Struct(">Q")

DEFAULT_BUFFER = 1048576
MIN_BUFFER = 65536
DEFAULT_EXPIRE = 86400
EXIT_USAGE = 3
EXIT_START = 4

CHUNK = 65536
INPUT_LIMIT = 1 << 20  # queued stdin bytes before the daemon stops reading the client
SEND_HIGH = 256 * 1024  # bytes queued to a socket before we stop topping it up
TTY_POLL = 0.02
DRAIN_QUIET = 0.2
KILL_GRACE = 2.0
LINGER = 2.0
CLIENT_IDS = 16
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
PEERCRED = struct.Struct("3i")


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    """One frame: the kind's byte, the payload's length (big-endian u32), the payload."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("frame payload of %d bytes (over 1 MiB)" % len(payload))
    return HEADER.pack(kind[0], len(payload)) + payload


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


class FrameReader:
    """Incremental frame parser: feed bytes, get the complete frames."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> List[Tuple[bytes, bytes]]:
        """The frames completed by ``data``; ValueError on an oversized frame."""
        buf = self._buf
        buf += data
        frames = []  # type: List[Tuple[bytes, bytes]]
        pos = 0
        while len(buf) - pos >= HEADER.size:
            code, size = HEADER.unpack_from(buf, pos)
            if size > MAX_PAYLOAD:
                raise ValueError("frame of %d bytes (over 1 MiB)" % size)
            end = pos + HEADER.size + size
            if len(buf) < end:
                break
            frames.append((bytes((code,)), bytes(buf[pos + HEADER.size : end])))
            pos = end
        if pos:
            del buf[:pos]
        return frames


class HolderError(Exception):
    """A failure reported as one ``remoterepl-holder:`` line and an exit status."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def hello_problem(hello: Any) -> Optional[Tuple[str, str]]:
    """(error, message) when a decoded HELLO is unusable, else None."""
    if not isinstance(hello, dict):
        return "usage", "HELLO is not a JSON object"
    if hello.get("v") != PROTOCOL:
        return "version", "holder protocol %d, client protocol %r" % (PROTOCOL, hello.get("v"))
    pty_params = hello.get("pty")
    if pty_params is not None and not (
        isinstance(pty_params, dict)
        and isinstance(pty_params.get("term"), str)
        and all(_is_int(pty_params.get(k), 1, 65535) for k in ("cols", "rows"))
    ):
        return "usage", "HELLO pty must be {term, cols, rows}"
    for key in ("out", "err", "buffer"):
        if hello.get(key) is not None and not _is_int(hello[key], 0, 1 << 63):
            return "usage", "HELLO %s must be a non-negative integer or null" % key
    expire = hello.get("expire")
    if expire is not None and (not isinstance(expire, (int, float)) or expire < 0):
        return "usage", "HELLO expire must be a number of seconds or null"
    if hello.get("command") is not None and not isinstance(hello["command"], str):
        return "usage", "HELLO command must be a string or null"
    if not isinstance(hello.get("client", ""), str):
        return "usage", "HELLO client must be a string"
    if not isinstance(hello.get("token", ""), (str, type(None))):
        return "usage", "HELLO token must be a string or null"
    return None


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def decode_hello(payload: bytes) -> Tuple[Dict[str, Any], Optional[Tuple[str, str]]]:
    """The HELLO's fields and the problem with them (None when usable)."""
    try:
        hello = json.loads(payload.decode("utf-8"))
    except ValueError:
        return {}, ("usage", "HELLO is not UTF-8 JSON")
    problem = hello_problem(hello)
    return (hello if problem is None else {}), problem


def error_frame(problem: Tuple[str, str]) -> bytes:
    """The ``!`` frame for a problem."""
    return frame(ERROR, dumps({"error": problem[0], "holder": PROTOCOL, "message": problem[1]}))


# -- the session directory and names ------------------------------------------------------


def check_name(name: str) -> None:
    """Refuse a session name outside ``[A-Za-z0-9][A-Za-z0-9._-]{0,63}``."""
    if not NAME.fullmatch(name):
        raise HolderError("bad session name %r (letters, digits, '.', '_', '-'; 64 at most)" % name)


def session_dir() -> str:
    """Where the sessions' sockets live."""
    path = os.environ.get("REMOTEREPL_HOLDER_DIR")
    if path:
        return path
    # Not XDG_RUNTIME_DIR: logind removes it once the user's last login ends, and a lost
    # link is often exactly that; the session would live on with no socket to reach it.
    return os.path.join(os.path.expanduser("~"), ".cache", "remoterepl", "sessions")


def enter_dir() -> None:
    """Create (0700) and check the session directory, then chdir into it."""
    path = session_dir()
    old = os.umask(0o077)
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError as exc:
        raise HolderError("session directory %s: %s" % (path, exc.strerror or exc)) from None
    finally:
        os.umask(old)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise HolderError("session directory %s is a symlink or not a directory" % path)
    if info.st_uid != os.getuid():
        raise HolderError("session directory %s is not owned by uid %d" % (path, os.getuid()))
    if info.st_mode & 0o077:
        raise HolderError(
            "session directory %s is open to others (mode %o)" % (path, info.st_mode & 0o777)
        )
    os.chdir(path)
    here = os.stat(".")
    if (here.st_dev, here.st_ino) != (info.st_dev, info.st_ino):
        raise HolderError("session directory %s changed while it was checked" % path)


class NameLock:
    """``NAME.lock``, flock'd; the path is re-checked so an unlinked lock never counts."""

    def __init__(self, name: str) -> None:
        self.path = name + ".lock"
        self.fd = -1

    def acquire(self, wait: bool = True) -> bool:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except OSError:
                os.close(fd)
                return False
            mine = os.fstat(fd)
            try:
                now = os.stat(self.path)
            except OSError:
                now = None
            if now is not None and (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
                self.fd = fd
                return True
            os.close(fd)

    def remove(self) -> None:
        with suppress(OSError):
            os.unlink(self.path)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def connect(name: str) -> Optional[socket.socket]:
    """A connection to the session's daemon, None when nobody listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(name + ".sock")
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.ENOENT, errno.ECONNREFUSED):
            return None
        raise HolderError("session %s: %s" % (name, exc.strerror or exc)) from None
    return sock


def request(sock: socket.socket, kind: bytes, timeout: float) -> Optional[bytes]:
    """Send an empty ``kind`` frame and wait for the answer of the same kind."""
    reader = FrameReader()
    try:
        sock.settimeout(timeout)
        sock.sendall(frame(kind))
        while True:
            data = sock.recv(CHUNK)
            if not data:
                return None
            for got, payload in reader.feed(data):
                if got == kind:
                    return payload
    except (OSError, ValueError):
        return None
    finally:
        sock.close()


def remove_stale(name: str) -> None:
    """Remove a socket nobody answers on, and its lock (not while someone creates it)."""
    lock = NameLock(name)
    if lock.acquire(wait=False):
        with suppress(OSError):
            os.unlink(name + ".sock")
        lock.remove()
        lock.release()


def list_sessions() -> int:
    """``list``: one JSON line per live session."""
    enter_dir()
    for entry in sorted(os.listdir(".")):
        name = entry[: -len(".sock")]
        if not entry.endswith(".sock") or not NAME.fullmatch(name):
            continue
        sock = connect(name)
        if sock is None:  # refused: nobody listens there any more
            remove_stale(name)
            continue
        answer = request(sock, PROBE, 2.0)
        if answer is None:  # alive but slow (a loaded host): never removed for that
            answer = dumps({"v": PROTOCOL, "name": name, "state": "not answering"})
        sys.stdout.write(answer.decode("utf-8", "replace") + "\n")
    sys.stdout.flush()
    return 0


def kill_session(name: str) -> int:
    """``kill NAME``: end the session; 1 when there was none."""
    check_name(name)
    enter_dir()
    sock = connect(name)
    if sock is None:
        remove_stale(name)
    elif request(sock, KILL, KILL_GRACE + 8.0) is not None:
        return 0
    raise HolderError("no session %s" % name, 1)


# -- the relay ------------------------------------------------------------------------------


def read_first_frame(fd: int) -> Tuple[bytes, bytes, bytes]:
    """(kind, payload, every byte read): the client's first frame and what followed it."""
    raw = bytearray()
    while True:
        if len(raw) >= HEADER.size:
            code, size = HEADER.unpack_from(raw)
            if size > MAX_PAYLOAD:
                raise HolderError("the client's first frame is over 1 MiB")
            if len(raw) >= HEADER.size + size:
                return bytes((code,)), bytes(raw[HEADER.size : HEADER.size + size]), bytes(raw)
        chunk = os.read(fd, CHUNK)
        if not chunk:
            raise HolderError("the client ended before its HELLO")
        raw += chunk


def relay(name: str) -> int:
    """``attach NAME``: connect to (or create) the session and copy bytes both ways."""
    check_name(name)
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = os.path.expanduser("~")
    enter_dir()
    kind, payload, raw = read_first_frame(0)
    hello = {}  # type: Dict[str, Any]
    if kind == HELLO:
        hello, problem = decode_hello(payload)
        if problem is not None:
            with suppress(OSError):
                os.write(1, error_frame(problem))
            raise HolderError(problem[1])
    sock = connect(name)
    if sock is None and kind != HELLO:
        raise HolderError("no session %s" % name, 1)
    if sock is None and hello.get("create") is False:  # a reconnect: never a new session
        with suppress(OSError):
            os.write(1, error_frame(("gone", "no session %s" % name)))
        raise HolderError("no session %s" % name, 1)
    if sock is None:
        lock = NameLock(name)
        lock.acquire()
        try:
            sock = connect(name)
            if sock is None:
                with suppress(OSError):
                    os.unlink(name + ".sock")
                try:
                    start_daemon(name, hello, cwd)
                except HolderError:
                    lock.remove()
                    raise
                sock = connect(name)
        finally:
            lock.release()
        if sock is None:
            raise HolderError("the daemon of session %s does not listen" % name, EXIT_START)
    return copy(sock, raw)


def start_daemon(name: str, hello: Dict[str, Any], cwd: str) -> None:
    """Double-fork the session's daemon and wait until it listens (or says why not)."""
    creator = os.getpid()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the intermediate child
        try:
            os.close(ready_r)
            os.setsid()
            if os.fork() == 0:
                run_daemon(name, hello, cwd, ready_w, creator)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.waitpid(pid, 0)
    answer = b""
    while True:
        chunk = os.read(ready_r, 4096)
        if not chunk:
            break
        answer += chunk
    os.close(ready_r)
    if answer != b"ok\n":
        line = answer.decode("utf-8", "replace").strip() or "the session daemon did not start"
        raise HolderError(line, EXIT_START)


def copy(sock: socket.socket, first: bytes) -> int:
    """Copy stdin -> socket and socket -> stdout until either side ends."""
    sock.setblocking(False)
    to_sock = bytearray(first)
    to_out = bytearray()
    stdin_open = sock_open = True
    shut = False
    deadline = None  # type: Optional[float]
    try:
        while sock_open or to_out:
            readers = []  # type: List[Any]
            writers = []  # type: List[Any]
            if stdin_open and len(to_sock) < SEND_HIGH:
                readers.append(0)
            if sock_open and len(to_out) < SEND_HIGH:
                readers.append(sock)
            if to_sock:
                writers.append(sock)
            if to_out:
                writers.append(1)
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            readable, writable, _ = select.select(readers, writers, [], wait)
            if deadline is not None and time.monotonic() >= deadline:
                break
            if 0 in readable:
                try:
                    data = os.read(0, CHUNK)
                except OSError:
                    data = b""
                to_sock += data
                if not data:
                    stdin_open = False
                    deadline = time.monotonic() + LINGER
            if sock in readable:
                try:
                    received = sock.recv(CHUNK)
                except BlockingIOError:
                    received = None
                except OSError:
                    received = b""
                if received is not None:
                    to_out += received
                    sock_open = bool(received)
            if sock in writable and to_sock:
                try:
                    del to_sock[: sock.send(to_sock)]
                except BlockingIOError:
                    pass
                except OSError:
                    # The daemon closed (TAKEN, EXIT, an error): still pass on what it sent.
                    to_sock.clear()
                    stdin_open, shut = False, True
                    deadline = deadline or time.monotonic() + LINGER
            if 1 in writable and to_out:
                del to_out[: os.write(1, to_out[:CHUNK])]
            if not stdin_open and not to_sock and not shut:
                # The client is gone: let the daemon see it, and take what it still sends.
                shut = True
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # stdout is gone: so is the client, nothing to report once frames flow
    finally:
        sock.close()
    return 0


# -- the daemon -----------------------------------------------------------------------------


class Stream:
    """One output stream held at absolute offsets: ``base`` is the oldest byte held."""

    def __init__(self) -> None:
        self.base = 0
        self.data = bytearray()
        self.acked = 0

    @property
    def end(self) -> int:
        return self.base + len(self.data)

    def trim_to(self, offset: int) -> None:
        if offset > self.base:
            del self.data[: offset - self.base]
            self.base = offset


class Conn:
    """One accepted connection: a client (relay), a PROBE or a KILL."""

    def __init__(self, sock: socket.socket, peer_pid: int) -> None:
        self.sock = sock
        self.peer_pid = peer_pid
        self.reader = FrameReader()
        self.wbuf = bytearray()
        self.role = "new"  # new, attached, closing
        self.closed = False
        self.client = ""
        self.sent = [0, 0]
        self.exit_sent = False
        self.tty = ""
        self.deadline = None  # type: Optional[float]
        self.inack_sent = 0


def run_daemon(name: str, hello: Dict[str, Any], cwd: str, ready: int, creator: int) -> None:
    """The daemon's process: detach from the relay, start the session, serve it, exit."""
    status = 1
    try:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        keep = {0, 1, 2, ready}
        for fd in _open_fds():
            if fd not in keep:
                with suppress(OSError):
                    os.close(fd)
        try:
            daemon = Daemon(name, hello, cwd, creator)
        except Exception as exc:
            line = "cannot start session %s: %s\n" % (name, exc)
            os.write(ready, line.encode("utf-8", "replace"))
            raise
        os.write(ready, b"ok\n")
        os.close(ready)
        daemon.run()
        status = 0
    finally:
        os._exit(status)


def _open_fds() -> List[int]:
    try:
        return [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, min(os.sysconf("SC_OPEN_MAX"), 65536)))


def _noop(signum: int, _frame: Any) -> None:
    pass


def _child_signals() -> None:
    """What the session's process starts with: the daemon ignores HUP and PIPE."""
    for sig in (signal.SIGHUP, signal.SIGPIPE, signal.SIGTERM, signal.SIGCHLD, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)


class Daemon:
    """One session: the process, its held output, the attached client."""

    def __init__(self, name: str, hello: Dict[str, Any], cwd: str, creator: int) -> None:
        self.name = name
        self.creator = creator  # type: Optional[int]
        self.command = hello.get("command")  # type: Optional[str]
        pty_params = hello.get("pty")
        self.pty = pty_params is not None
        self.buffer = max(MIN_BUFFER, hello.get("buffer") or DEFAULT_BUFFER)
        expire = hello.get("expire")
        self.expire = float(DEFAULT_EXPIRE if expire is None else expire)
        self.created = int(time.time())
        self.activity = time.monotonic()
        self.streams = [Stream(), Stream()]
        self.conns = []  # type: List[Conn]
        self.attached = None  # type: Optional[Conn]
        self.accepted = OrderedDict()  # type: OrderedDict[str, int]
        self.token = ""  # the current attachment's: a resume must present it
        self.inq = bytearray()
        self.eof_pending = False
        self.status = None  # type: Optional[int]
        self.reaped_at = 0.0
        self.last_read = 0.0
        self.ended_at = None  # type: Optional[float]
        self.killing = False
        self.kill_at = None  # type: Optional[float]
        self.killers = []  # type: List[Conn]
        self.done = False
        self.next_tty = 0.0
        self.sel = selectors.DefaultSelector()
        self.registered = {}  # type: Dict[int, int]
        self.master = None  # type: Optional[int]
        self.stdin_fd = None  # type: Optional[int]
        self.out_fds = [None, None]  # type: List[Optional[int]]
        self.proc = None  # type: Optional[subprocess.Popen[bytes]]

        for sig in (signal.SIGHUP, signal.SIGPIPE, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, _noop)
        signal.signal(signal.SIGTERM, _noop)

        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(name + ".sock")
        info = os.stat(name + ".sock")
        self.sock_ident = (info.st_dev, info.st_ino)
        self.listener.listen(16)
        self.listener.setblocking(False)
        try:
            self.child = self._spawn(pty_params, cwd)
        except BaseException:
            os.unlink(name + ".sock")  # the relay holds the lock and removes it
            raise

    # -- the process

    def _spawn(self, pty_params: Optional[Dict[str, Any]], cwd: str) -> int:
        shell = pwd.getpwuid(os.getuid()).pw_shell or "/bin/sh"
        if self.command is None:
            argv = ["-" + os.path.basename(shell)]  # a login shell, as sshd starts it
        else:
            argv = [os.path.basename(shell), "-c", self.command]
        env = dict(os.environ)
        if not os.path.isdir(cwd):
            cwd = os.path.expanduser("~")
        if pty_params is None:
            self.proc = subprocess.Popen(
                argv,
                executable=shell,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                start_new_session=True,
                preexec_fn=_child_signals,
            )
            assert self.proc.stdin and self.proc.stdout and self.proc.stderr
            # Raw fds of our own: file objects would close them again when collected.
            fds = []
            for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                fds.append(os.dup(pipe.fileno()))
                os.set_blocking(fds[-1], False)
                pipe.close()
            self.proc.stdin = self.proc.stdout = self.proc.stderr = None
            self.stdin_fd = fds[0]
            self.out_fds = [fds[1], fds[2]]
            return self.proc.pid
        env["TERM"] = pty_params["term"]
        master, slave = os.openpty()
        winsize = struct.pack("HHHH", pty_params["rows"], pty_params["cols"], 0, 0)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, winsize)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the session's process before exec
            try:
                os.close(master)
                os.setsid()
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
                for fd in (0, 1, 2):
                    os.dup2(slave, fd)
                if slave > 2:
                    os.close(slave)
                _child_signals()
                with suppress(OSError):
                    os.chdir(cwd)
                os.execve(shell, argv, env)
            except BaseException as exc:
                with suppress(BaseException):
                    line = "remoterepl-holder: cannot run %s: %s\r\n" % (shell, exc)
                    os.write(2, line.encode("utf-8", "replace"))
            os._exit(127)
        os.close(slave)
        os.set_blocking(master, False)
        self.master = master
        self.out_fds = [master, None]
        return pid

    def _reap(self) -> None:
        if self.status is not None:
            return
        try:
            pid, status = os.waitpid(self.child, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.child, -1  # reaped elsewhere: the status is unknown
        if pid:
            self.status = status
            self.reaped_at = self.last_read = time.monotonic()
            if self.proc is not None:
                # Popen must not wait for it again.
                self.proc.returncode = os.WEXITSTATUS(status) if status > 0 else status

    def _exit_info(self) -> Dict[str, Any]:
        status = self.status
        if status is None or status < 0:
            return {"status": None, "signal": None, "core": False}
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            try:
                name = signal.Signals(number).name[3:]
            except ValueError:
                name = str(number)
            return {"status": None, "signal": name, "core": os.WCOREDUMP(status)}
        return {"status": os.WEXITSTATUS(status), "signal": None, "core": False}

    def _paused(self, index: int) -> bool:
        """Pipe sessions never lose a byte: a stream waits for ACKs beyond the buffer."""
        held = self.streams[index]
        return not self.pty and held.end - held.acked > self.buffer

    def _waiting_for_ack(self) -> bool:
        return any(fd is not None and self._paused(i) for i, fd in enumerate(self.out_fds))

    def _read_output(self, index: int) -> None:
        fd = self.out_fds[index]
        if fd is None:
            return
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO: the terminal's last writer is gone
        if not data:
            self._close_output(index)
            return
        held = self.streams[index]
        held.data += data
        self.activity = self.last_read = time.monotonic()
        keep = held.end - self.buffer
        held.trim_to(keep if self.pty else min(held.acked, keep))

    def _close_output(self, index: int) -> None:
        fd = self.out_fds[index]
        self.out_fds[index] = None
        if fd is not None:
            self._close_fd(fd)
        if self.pty:
            self.master = None
            self.inq.clear()

    def _close_fd(self, fd: int) -> None:
        if self.registered.pop(fd, None) is not None:
            self.sel.unregister(fd)
        with suppress(OSError):
            os.close(fd)

    def _close_stdin(self) -> None:
        if self.stdin_fd is not None:
            self._close_fd(self.stdin_fd)
            self.stdin_fd = None
        self.inq.clear()

    def _write_input(self) -> None:
        fd = self.master if self.pty else self.stdin_fd
        if fd is None:
            self.inq.clear()
            return
        if self.inq:
            try:
                del self.inq[: os.write(fd, self.inq[:CHUNK])]
            except BlockingIOError:
                pass
            except OSError:  # EPIPE, EIO: nobody reads the input any more
                if self.pty:
                    self.inq.clear()
                else:
                    self._close_stdin()
        if not self.inq and self.eof_pending and not self.pty:
            self._close_stdin()
        self._acknowledge_input()

    def _end_output(self) -> None:
        for index in (0, 1):
            self._close_output(index)
        self._close_stdin()
        self.ended_at = time.monotonic()

    def _start_kill(self) -> None:
        if self.killing:
            return
        self.killing = True
        if self.status is None:
            if self.master is not None:
                self._close_output(0)  # the terminal hangs up
            for sig in (signal.SIGHUP, signal.SIGCONT):
                with suppress(OSError):
                    os.killpg(self.child, sig)
            self.kill_at = time.monotonic() + KILL_GRACE

    def _signal(self, payload: bytes) -> None:
        name = payload.decode("ascii", "replace")
        number = getattr(signal, "SIG" + name, None) if re.fullmatch("[A-Z0-9]+", name) else None
        if not isinstance(number, int) or self.status is not None:
            return
        with suppress(OSError):
            if self.pty:
                if self.master is not None:
                    os.killpg(os.tcgetpgrp(self.master), number)
            else:
                os.killpg(self.child, number)

    def _tty_state(self) -> Optional[str]:
        if self.master is None:
            return None
        try:
            lflag = termios.tcgetattr(self.master)[3]
            group = os.tcgetpgrp(self.master)
        except (OSError, termios.error):
            return None
        try:
            with open("/proc/%d/comm" % group, "rb") as comm_file:
                comm = comm_file.read().decode("utf-8", "replace").strip()
        except OSError:
            comm = "?"
        flags = (lflag & termios.ICANON, lflag & termios.ECHO, group == self.child)
        return " ".join("1" if flag else "0" for flag in flags) + " " + comm

    def _poll_tty(self, conn: Conn) -> None:
        state = self._tty_state()
        if state is not None and state != conn.tty:
            conn.tty = state
            conn.wbuf += frame(TTY, state.encode("utf-8"))

    def _probe(self) -> Dict[str, Any]:
        info = self._exit_info()
        if self.status is not None:
            state = "exited"
        else:
            state = "detached" if self.attached is None else "attached"
        return {
            "v": PROTOCOL,
            "name": self.name,
            "command": self.command,
            "pty": self.pty,
            "state": state,
            "status": info["status"],
            "signal": info["signal"],
            "created": self.created,
            "idle": round(time.monotonic() - self.activity, 3),
            "pid": os.getpid(),
            "child": self.child,
            "held": sum(len(held.data) for held in self.streams),
        }

    # -- clients

    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except OSError:
            return
        try:
            cred = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEERCRED.size)
            pid, uid, _gid = PEERCRED.unpack(cred)
        except OSError:
            pid, uid = 0, -1
        if uid != os.getuid():
            sock.close()  # the 0700 directory should have stopped it already
            return
        sock.setblocking(False)
        self.conns.append(Conn(sock, pid))

    def _drop(self, conn: Conn) -> None:
        if conn.closed:
            return
        conn.closed = True
        self._close_fd(conn.sock.detach())
        self.conns.remove(conn)
        if self.attached is conn:
            self.attached = None
        if conn in self.killers:
            self.killers.remove(conn)

    def _close_later(self, conn: Conn) -> None:
        """Stop reading ``conn``; close it once what it is owed is sent (bounded)."""
        conn.role = "closing"
        conn.deadline = time.monotonic() + LINGER
        if self.attached is conn:
            self.attached = None

    def _read_conn(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        try:
            frames = conn.reader.feed(data)
        except ValueError:
            self._drop(conn)
            return
        for kind, payload in frames:
            if conn.closed or conn.role not in ("new", "attached"):
                break
            if not self._handle(conn, kind, payload):
                self._drop(conn)
                return
        self._acknowledge_input()

    def _acknowledge_input(self) -> None:
        """INACK what reached the process (or was dropped after its end), not what waits
        in ``inq``: the client's window then bounds ``inq``, also while we read the client
        past INPUT_LIMIT to reach its ACKs."""
        conn = self.attached
        if conn is None or conn.closed or conn.role != "attached":
            return
        count = max(conn.inack_sent, self.accepted.get(conn.client, 0) - len(self.inq))
        if count != conn.inack_sent:
            conn.inack_sent = count
            conn.wbuf += frame(INACK, INACK_PAYLOAD.pack(count))

    def _write_conn(self, conn: Conn) -> None:
        try:
            sent = conn.sock.send(conn.wbuf)
        except BlockingIOError:
            return
        except OSError:
            self._drop(conn)
            return
        del conn.wbuf[:sent]
        if not conn.wbuf and conn.role == "closing":
            self._drop(conn)

    def _handle(self, conn: Conn, kind: bytes, payload: bytes) -> bool:
        """Act on one frame; False when it is malformed (the connection is closed)."""
        if conn.role == "new":
            if kind == HELLO:
                hello, problem = decode_hello(payload)
                if problem is None:
                    self._attach(conn, hello)
                else:
                    conn.wbuf += error_frame(problem)
                    self._close_later(conn)
            elif kind == PROBE:
                conn.wbuf += frame(PROBE, dumps(self._probe()))
                self._close_later(conn)
            elif kind == KILL:
                conn.role = "killer"
                self.killers.append(conn)
                self._start_kill()
            else:
                return False
        elif kind == DATA:
            self.accepted[conn.client] = self.accepted.get(conn.client, 0) + len(payload)
            self.activity = time.monotonic()
            taking = self.master is not None or self.stdin_fd is not None
            if self.status is None and taking and not self.eof_pending:
                self.inq += payload
        elif kind == ACK and len(payload) == ACK_PAYLOAD.size:
            for held, offset in zip(self.streams, ACK_PAYLOAD.unpack(payload)):
                held.acked = max(held.acked, min(offset, held.end))
                if not self.pty:
                    held.trim_to(min(held.acked, held.end - self.buffer))
        elif kind == WINCH and len(payload) == WINCH_PAYLOAD.size:
            cols, rows = WINCH_PAYLOAD.unpack(payload)
            if self.master is not None:
                with suppress(OSError):
                    winsize = struct.pack("HHHH", rows, cols, 0, 0)
                    fcntl.ioctl(self.master, termios.TIOCSWINSZ, winsize)
        elif kind == EOF:
            self.eof_pending = self.eof_pending or not self.pty
        elif kind == SIGNAL:
            self._signal(payload)
        elif kind == DETACH:
            self._drop(conn)
        elif kind == COLLECTED:
            self.done = self.done or self.ended_at is not None
        elif kind == KILL:
            self.killers.append(conn)
            self._start_kill()
        else:
            return False
        return True

    def _attach(self, conn: Conn, hello: Dict[str, Any]) -> None:
        if hello.get("token") is not None and hello["token"] != self.token:
            # A client whose link died resumes after another client attached (or to a
            # session of the same name made since): it must not take it back.
            conn.wbuf += error_frame(("taken", "another client attached since"))
            self._close_later(conn)
            return
        self.token = binascii.hexlify(os.urandom(8)).decode("ascii")
        old = self.attached
        if old is not None:
            old.wbuf += frame(TAKEN)
            self._close_later(old)
        created = self.creator is not None and conn.peer_pid == self.creator
        if created:
            self.creator = None
        client = str(hello.get("client") or "")
        count = self.accepted.pop(client, 0)
        self.accepted[client] = count
        while len(self.accepted) > CLIENT_IDS:
            self.accepted.popitem(last=False)
        gaps = b""
        for index, key in enumerate(("out", "err")):
            held = self.streams[index]
            start = held.base
            if hello.get(key) is not None:
                holds = min(hello[key], held.end)
                held.acked = max(held.acked, holds)
                if holds < held.base:
                    gaps += frame(GAP, GAP_PAYLOAD.pack(index, held.base - holds))
                else:
                    start = holds
            conn.sent[index] = start
        welcome = {
            "v": PROTOCOL,
            "created": created,
            "pty": self.pty,
            "in": count,
            "out": conn.sent[0],
            "err": conn.sent[1],
            "pid": self.child,
            "command": self.command,
            "token": self.token,
        }
        conn.wbuf += frame(WELCOME, dumps(welcome)) + gaps
        conn.role = "attached"
        conn.client = client
        conn.inack_sent = count
        self.attached = conn
        if self.pty:
            self._poll_tty(conn)
            self.next_tty = time.monotonic() + TTY_POLL

    def _pump(self, conn: Conn) -> None:
        """Top up the attached client's queue from the held output; EXIT after the last."""
        for index, held in enumerate(self.streams):
            while len(conn.wbuf) < SEND_HIGH and conn.sent[index] < held.end:
                if conn.sent[index] < held.base:  # a PTY session outran a slow client
                    lost = held.base - conn.sent[index]
                    conn.wbuf += frame(GAP, GAP_PAYLOAD.pack(index, lost))
                    conn.sent[index] = held.base
                    continue
                start = conn.sent[index] - held.base
                chunk = bytes(held.data[start : start + CHUNK])
                conn.wbuf += frame(OUT if index == 0 else ERR, chunk)
                conn.sent[index] += len(chunk)
        ends = [held.end for held in self.streams]
        if self.ended_at is not None and not conn.exit_sent and conn.sent == ends:
            conn.wbuf += frame(EXIT, dumps(self._exit_info()))
            conn.exit_sent = True

    # -- the loop

    def _interest(self) -> Dict[int, Tuple[int, Any]]:
        read, write = selectors.EVENT_READ, selectors.EVENT_WRITE
        want = {self.listener.fileno(): (read, "listen"), self.wake_r: (read, "wake")}  # type: Dict[int, Tuple[int, Any]]
        if self.master is not None:
            want[self.master] = (read | (write if self.inq else 0), "master")
        elif not self.pty:
            for index, fd in enumerate(self.out_fds):
                if fd is not None and not self._paused(index):
                    want[fd] = (read, index)
            if self.stdin_fd is not None and (self.inq or self.eof_pending):
                want[self.stdin_fd] = (write, "stdin")
        # Input waits while the process is slow to take it, unless output waits for an ACK
        # that may be behind that input (a pipe session would deadlock).
        take_input = len(self.inq) <= INPUT_LIMIT or self._waiting_for_ack()
        for conn in self.conns:
            events = write if conn.wbuf else 0
            if conn.role == "new" or (conn.role == "attached" and take_input):
                events |= read
            if events:
                want[conn.sock.fileno()] = (events, conn)
        return want

    def _sync(self, want: Dict[int, Tuple[int, Any]]) -> None:
        for fd in [fd for fd in self.registered if fd not in want]:
            del self.registered[fd]
            self.sel.unregister(fd)
        for fd, (events, data) in want.items():
            old = self.registered.get(fd)
            if old is None:
                self.sel.register(fd, events, data)
            elif old != events or self.sel.get_key(fd).data is not data:
                self.sel.modify(fd, events, data)
            self.registered[fd] = events

    def _timeout(self) -> Optional[float]:
        now = time.monotonic()
        due = []  # type: List[float]
        if self.attached is not None and self.master is not None:
            due.append(self.next_tty)
        if self.status is not None and self.ended_at is None and not self._waiting_for_ack():
            due.append(self.last_read + DRAIN_QUIET)
        if self.kill_at is not None:
            due.append(self.kill_at)
        if self.status is not None and self.attached is None:
            due.append((self.ended_at or self.reaped_at) + self.expire)
        due.extend(conn.deadline for conn in self.conns if conn.deadline is not None)
        return max(0.0, min(due) - now) if due else None

    def _dispatch(self, data: Any, events: int) -> None:
        if isinstance(data, Conn):
            if not data.closed and events & selectors.EVENT_READ:
                self._read_conn(data)
            if not data.closed and events & selectors.EVENT_WRITE:
                self._write_conn(data)
        elif data == "listen":
            self._accept()
        elif data == "wake":
            with suppress(OSError):
                if int(signal.SIGTERM) in os.read(self.wake_r, 512):
                    self._start_kill()
        elif data == "master":
            if events & selectors.EVENT_READ:
                self._read_output(0)
            if events & selectors.EVENT_WRITE:
                self._write_input()
        elif data == "stdin":
            self._write_input()
        else:
            self._read_output(data)

    def _tick(self) -> None:
        now = time.monotonic()
        self._reap()
        if self.attached is not None and self.master is not None and now >= self.next_tty:
            self._poll_tty(self.attached)
            self.next_tty = now + TTY_POLL
        if self.status is not None and self.ended_at is None:
            quiet = now - self.last_read >= DRAIN_QUIET and not self._waiting_for_ack()
            if self.killing or quiet or self.out_fds == [None, None]:
                self._end_output()
        if self.kill_at is not None and self.status is None and now >= self.kill_at:
            self.kill_at = None
            with suppress(OSError):
                os.killpg(self.child, signal.SIGKILL)
        if self.killing and self.ended_at is not None:
            for conn in self.killers:
                conn.wbuf += frame(KILL)
            self.done = True
        if self.status is not None and self.attached is None:
            self.done = self.done or now >= (self.ended_at or self.reaped_at) + self.expire
        for conn in [c for c in self.conns if c.deadline is not None and now >= c.deadline]:
            self._drop(conn)

    def run(self) -> None:
        """Serve the session until it is collected, expires or is killed."""
        try:
            while not self.done:
                if self.attached is not None:
                    self._pump(self.attached)
                self._sync(self._interest())
                for key, events in self.sel.select(self._timeout()):
                    self._dispatch(key.data, events)
                self._tick()
        finally:
            self._finish()

    def _remove_files(self) -> None:
        lock = NameLock(self.name)
        deadline = time.monotonic() + LINGER
        locked = lock.acquire(wait=False)
        while not locked and time.monotonic() < deadline:
            time.sleep(0.01)  # a relay holds it for one connect(): never long
            locked = lock.acquire(wait=False)
        with suppress(OSError):
            info = os.stat(self.name + ".sock")
            if (info.st_dev, info.st_ino) == self.sock_ident:
                os.unlink(self.name + ".sock")
        if locked:
            lock.remove()
            lock.release()

    def _finish(self) -> None:
        """Remove the files first (``kill`` returns to an empty directory), then say goodbye."""
        self._remove_files()
        self.listener.close()
        if self.status is None:
            with suppress(OSError):
                os.killpg(self.child, signal.SIGKILL)
        deadline = time.monotonic() + LINGER
        for conn in list(self.conns):
            with suppress(OSError):
                conn.sock.setblocking(True)
                while time.monotonic() < deadline:
                    if conn is self.attached:
                        self._pump(conn)
                    if not conn.wbuf:
                        break
                    conn.sock.settimeout(max(0.01, deadline - time.monotonic()))
                    conn.sock.sendall(conn.wbuf)
                    conn.wbuf.clear()
            conn.sock.close()


def main(argv: Optional[List[str]] = None) -> int:
    """The holder's command line: ``attach NAME``, ``list``, ``kill NAME``."""
    args = sys.argv[1:] if argv is None else argv
    try:
        if len(args) == 2 and args[0] == "attach":
            return relay(args[1])
        if args == ["list"]:
            return list_sessions()
        if len(args) == 2 and args[0] == "kill":
            return kill_session(args[1])
        raise HolderError("usage: attach NAME | list | kill NAME")
    except HolderError as exc:
        message, status = exc.message, exc.status
    except Exception as exc:  # one line, never a traceback: the client shows it
        message, status = "%s: %s" % (type(exc).__name__, exc), EXIT_USAGE
    sys.stderr.write("remoterepl-holder: %s\n" % message)
    sys.stderr.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
