"""Port forwarding end to end against a real OpenSSH sshd on loopback: -L (and
LocalForward from ssh_config), -R, -D through curl, -N with -f, ExitOnForwardFailure,
GatewayPorts' loopback default and ``~#`` in a pty session.

Every service is a small server of the test's own on 127.0.0.1 and a free port; every
remoterepl process (also the one -f leaves in the background) is gone when a test ends.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client import (
    read_line_with_timeout,
    remoterepl_command,
    run_remoterepl,
    spawn_remoterepl,
    start_remoterepl,
    stderr_lines,
)
from tests.client_env import ClientEnv
from tests.system import LOOPBACK, free_port, kill_and_wait, process_exists, processes_running

READY = "echo ready; exec cat"  # the remote command: says when the forwards are up, ends on EOF


class _Echo(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for line in self.rfile:
            self.wfile.write(b"echo: " + line)


@contextlib.contextmanager
def _serving(server: socketserver.TCPServer) -> Iterator[int]:
    """Serve ``server`` in a thread while the block runs; yields its port."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def echo_server() -> Iterator[int]:
    """A line echo service on 127.0.0.1 (its port): what the forwards reach."""
    server = socketserver.ThreadingTCPServer((LOOPBACK, 0), _Echo)
    server.daemon_threads = True
    with _serving(server) as port:
        yield port


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello from {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@contextlib.contextmanager
def http_server() -> Iterator[int]:
    """A loopback HTTP server (its port) answering ``hello from PATH``."""
    with _serving(http.server.ThreadingHTTPServer((LOOPBACK, 0), _Hello)) as port:
        yield port


def echo_through(port: int, text: str = "hello") -> str:
    """Send one line to 127.0.0.1:port and return the reply line."""
    with socket.create_connection((LOOPBACK, port), timeout=10) as sock:
        sock.sendall(text.encode() + b"\n")
        reply = sock.makefile("rb").readline()
    return reply.decode()


def refused(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the TCP sockets listening on ``port`` (from /proc/net)."""
    found: set[str] = set()
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
                fields = line.split()
                address, _, hexport = fields[1].partition(":")
                if fields[3] != "0A" or int(hexport, 16) != port:  # 0A: LISTEN
                    continue
                raw = bytes.fromhex(address)
                # /proc writes each 32-bit word in host (little-endian) order
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(socket.inet_ntop(family, raw))
    return found


@contextlib.contextmanager
def session_with_forwards(
    client_env: ClientEnv, *options: str
) -> Iterator[subprocess.Popen[bytes]]:
    """remoterepl OPTIONS ALIAS 'echo ready; exec cat' in pipe mode, back once the remote
    said "ready" (the forwards are set up before the session starts); ends on stdin EOF
    with 0 and nothing (more) on stderr."""
    args = [*options, client_env.user_alias, READY]
    with start_remoterepl(args, env=client_env.env) as proc:
        assert proc.stdout is not None and proc.stdin is not None and proc.stderr is not None
        assert read_line_with_timeout(proc.stdout, 30) == b"ready\n"
        yield proc
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        assert proc.stderr.read() == b""


def test_local_forward_reaches_a_loopback_service(client_env: ClientEnv) -> None:
    """-L PORT:127.0.0.1:ECHO: a connection to our port is the echo service's, through
    the SSH connection; gone when the session ends."""
    port = free_port()
    with (
        echo_server() as echo,
        session_with_forwards(client_env, "-L", f"{port}:{LOOPBACK}:{echo}"),
    ):
        assert echo_through(port, "one") == "echo: one\n"
        assert echo_through(port, "two") == "echo: two\n"

    assert refused(port)


def test_local_forward_from_ssh_config_applies_to_its_host_only(client_env: ClientEnv) -> None:
    """LocalForward in the destination's Host block listens; another host's does not."""
    port, other = free_port(), free_port()
    with echo_server() as echo:
        text = client_env.config_path.read_text()
        client_env.config_path.write_text(
            f"Host {client_env.user_alias}\n    LocalForward {port} {LOOPBACK}:{echo}\n"
            f"Host not-this-one\n    LocalForward {other} {LOOPBACK}:{echo}\n" + text
        )
        with session_with_forwards(client_env):
            assert echo_through(port) == "echo: hello\n"
            assert refused(other)


def test_remote_forward_reaches_back(client_env: ClientEnv) -> None:
    """-R PORT:127.0.0.1:ECHO: sshd listens on PORT; what connects to it reaches our echo
    service through the connection (sshd runs on this machine's loopback)."""
    port = free_port()
    with (
        echo_server() as echo,
        session_with_forwards(client_env, "-R", f"{port}:{LOOPBACK}:{echo}"),
    ):
        assert echo_through(port, "back") == "echo: back\n"

    assert refused(port)


def test_remote_forward_on_port_0_tells_the_allocated_port(client_env: ClientEnv) -> None:
    """-R 0:...: the server picks the port, and we print it as ssh does."""
    with (
        echo_server() as echo,
        session_with_forwards(client_env, "-R", f"0:{LOOPBACK}:{echo}") as proc,
    ):
        assert proc.stderr is not None
        line = read_line_with_timeout(proc.stderr, 10).decode()
        prefix = "Allocated port "
        assert line.startswith(prefix), line
        assert line.endswith(f" for remote forward to {LOOPBACK}:{echo}\n"), line
        port = int(line[len(prefix) :].split()[0])
        assert echo_through(port) == "echo: hello\n"


def _curl_env(env: dict[str, str]) -> dict[str, str]:
    """No proxy settings of the machine's leak into curl."""
    return {k: v for k, v in env.items() if "proxy" not in k.lower()}


def test_dynamic_forward_is_a_socks_proxy_for_curl(client_env: ClientEnv) -> None:
    """-D PORT: curl --socks5-hostname and --socks4 through it reach a loopback HTTP
    server (the server makes the connection)."""
    curl = shutil.which("curl") or "/usr/bin/curl"
    if not Path(curl).exists():
        pytest.skip("curl is not installed")
    port = free_port()
    with http_server() as web, session_with_forwards(client_env, "-D", str(port)):
        for proxy in ("--socks5-hostname", "--socks4"):
            url = f"http://{LOOPBACK}:{web}/through-socks"
            result = subprocess.run(
                [
                    curl,
                    "-sS",
                    "--max-time",
                    "20",
                    "--noproxy",
                    "",
                    proxy,
                    f"{LOOPBACK}:{port}",
                    url,
                ],
                capture_output=True,
                env=_curl_env(client_env.env),
                timeout=30,
            )
            assert (result.returncode, result.stdout, result.stderr) == (
                0,
                b"hello from /through-socks\n",
                b"",
            )


def test_gateway_ports_default_listens_on_loopback_only(client_env: ClientEnv) -> None:
    """Without a bind address (GatewayPorts no) the -L and -D listeners are loopback ones."""
    local, socks = free_port(), free_port()
    with (
        echo_server() as echo,
        session_with_forwards(client_env, "-L", f"{local}:{LOOPBACK}:{echo}", "-D", str(socks)),
    ):
        for port in (local, socks):
            addresses = listening_addresses(port)
            assert LOOPBACK in addresses
            assert addresses <= {"127.0.0.1", "::1"}, addresses


def test_explicit_bind_address_is_used(client_env: ClientEnv) -> None:
    """-L 127.0.0.1:PORT:... binds that address only (no ::1)."""
    port = free_port()
    with (
        echo_server() as echo,
        session_with_forwards(client_env, "-L", f"{LOOPBACK}:{port}:{LOOPBACK}:{echo}"),
    ):
        assert listening_addresses(port) == {LOOPBACK}
        assert echo_through(port) == "echo: hello\n"


@contextlib.contextmanager
def taken_port() -> Iterator[int]:
    """A port something else listens on (127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_exit_on_forward_failure_stops_before_the_session(client_env: ClientEnv) -> None:
    """-o ExitOnForwardFailure=yes and a taken port: one line naming the forward, 255,
    and the remote command never ran."""
    with taken_port() as port:
        spec = f"{port}:{LOOPBACK}:9"
        proc = run_remoterepl(
            ["-o", "ExitOnForwardFailure=yes", "-L", spec, client_env.user_alias, "echo ran"],
            env=client_env.env,
        )
    assert proc.returncode == 255
    assert proc.stdout == b""
    (line,) = stderr_lines(proc.stderr)
    assert f"(-L {spec})" in line and "Address already in use" in line, line
    assert "ExitOnForwardFailure" in line


def test_failed_forward_is_a_warning_and_the_session_runs(client_env: ClientEnv) -> None:
    """Without ExitOnForwardFailure: one "Warning:" line, then the session as usual."""
    with taken_port() as port, echo_server() as echo:
        good = free_port()
        forwards = ["-L", f"{port}:{LOOPBACK}:9", "-L", f"{good}:{LOOPBACK}:{echo}"]
        proc = run_remoterepl([*forwards, client_env.user_alias, "echo ran"], env=client_env.env)
    assert (proc.returncode, proc.stdout) == (0, b"ran\n")
    (line,) = stderr_lines(proc.stderr)
    assert line.startswith("Warning: local forwarding failed (-L "), line
    assert f"bind [localhost]:{port}: Address already in use" in line, line


def test_remote_forward_refused_by_the_server(client_env: ClientEnv) -> None:
    """-R on an address the server cannot listen on (taken there): ssh's warning line;
    with ExitOnForwardFailure, 255 before the session."""
    with taken_port() as port:
        spec = f"{LOOPBACK}:{port}:{LOOPBACK}:9"  # "localhost" would still have ::1
        proc = run_remoterepl(["-R", spec, client_env.user_alias, "echo ran"], env=client_env.env)
        assert (proc.returncode, proc.stdout) == (0, b"ran\n")
        (line,) = stderr_lines(proc.stderr)
        assert line.startswith(
            f"Warning: remote port forwarding failed for listen port {port} (-R {spec})"
        ), line
        proc = run_remoterepl(
            ["-o", "ExitOnForwardFailure=yes", "-R", spec, client_env.user_alias, "echo ran"],
            env=client_env.env,
        )
    assert (proc.returncode, proc.stdout) == (255, b"")
    (line,) = stderr_lines(proc.stderr)
    assert f"remote port forwarding failed for listen port {port}" in line, line


def _background_children(marker: str) -> list[int]:
    return processes_running(marker.encode())


def test_fork_after_authentication_keeps_the_forward(client_env: ClientEnv, tmp_path: Path) -> None:
    """-f -N: the command returns to the shell with 0 once authenticated and forwarding;
    the background child (its own session, off the terminal) keeps the forward until it
    is sent SIGTERM."""
    port = free_port()
    with echo_server() as echo:
        spec = f"{port}:{LOOPBACK}:{echo}"  # unique: how the test finds the child
        try:
            started = time.monotonic()
            # captured: as ssh -f (fork_postauth: stdout and stderr to /dev/null), the
            # child keeps neither pipe open, or run() would wait for it forever
            parent = subprocess.run(
                remoterepl_command(["-f", "-N", "-L", spec, client_env.user_alias]),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=client_env.env,
                timeout=30,
                start_new_session=True,
            )
            assert (parent.returncode, parent.stdout, parent.stderr) == (0, b"", b"")
            assert time.monotonic() - started < 20
            children = _background_children(spec)
            assert len(children) == 1, children
            (child,) = children
            assert os.getsid(child) == child  # left the caller's session (setsid)
            assert echo_through(port, "bg") == "echo: bg\n"
            os.kill(child, signal.SIGTERM)
            deadline = time.monotonic() + 20
            while process_exists(child) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not process_exists(child)
            assert refused(port)
        finally:
            kill_and_wait(_background_children(spec))


def test_fork_runs_the_installed_remoterepl_whatever_the_directory(
    client_env: ClientEnv, tmp_path: Path
) -> None:
    """-f from a directory holding a package named remoterepl: the background child is
    the installed remoterepl (``python -m`` would have run the directory's one)."""
    fake = tmp_path / "remoterepl"
    fake.mkdir()
    ran = tmp_path / "fake-ran"
    (fake / "__init__.py").write_text(f"open({str(ran)!r}, 'w').close()\nprint('PWNED')\n")
    (fake / "__main__.py").write_text("print('PWNED')\n")
    (fake / "cli.py").write_text("print('PWNED')\n")
    port = free_port()
    with echo_server() as echo:
        spec = f"{port}:{LOOPBACK}:{echo}"
        try:
            parent = subprocess.run(
                remoterepl_command(["-f", "-N", "-L", spec, client_env.user_alias]),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                cwd=tmp_path,
                env=client_env.env,
                timeout=30,
                start_new_session=True,
            )
            assert (parent.returncode, parent.stdout, parent.stderr) == (0, b"", b"")
            assert not ran.exists()
            assert echo_through(port) == "echo: hello\n"
        finally:
            assert kill_and_wait(_background_children(spec)) == []


def _child_started(spec: str) -> bool:
    """The -f child of the run naming ``spec`` was started (past exec: ``python -c ...``,
    where its parent is ``python .../remoterepl ...``)."""
    for pid in _background_children(spec):
        with contextlib.suppress(OSError):
            words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if len(words) > 1 and words[1] in (b"-c", b"-m"):
                return True
    return False


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05, 0.08, 0.12, 0.3])
def test_fork_ctrl_c_while_starting_is_quiet(
    embedded_env: ClientEnv, silent_listener: int, delay: float
) -> None:
    """Ctrl-C soon after the -f child was started (``delay`` after its exec: its
    interpreter still starting, then importing, then connecting to a destination that
    never answers): a quiet 130, no Python traceback, nothing left behind."""
    spec = f"{free_port()}:{LOOPBACK}:9"  # unique: how the test finds the child
    args = ["-f", "-N", "-L", spec, "-p", str(silent_listener), LOOPBACK]
    try:
        with spawn_remoterepl(args, embedded_env.env) as term:
            deadline = time.monotonic() + 20
            while not _child_started(spec):
                assert time.monotonic() < deadline, term.transcript_text()
                time.sleep(0.002)
            time.sleep(delay)
            term.sendcontrol("c")
            assert term.wait_exit(timeout=20) == 130, term.transcript_text()
            text = term.transcript_text()
            assert "Traceback" not in text and "Fatal Python error" not in text, text
            assert "KeyboardInterrupt" not in text, text
        deadline = time.monotonic() + 10
        while _background_children(spec) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _background_children(spec) == []
    finally:
        kill_and_wait(_background_children(spec))


def test_fork_after_authentication_asks_the_password_first(client_env: ClientEnv) -> None:
    """-f with a password login: the question is on the terminal, the parent exits 0 once
    it was answered, and the forward works from the background."""
    port = free_port()
    with echo_server() as echo:
        spec = f"{port}:{LOOPBACK}:{echo}"
        try:
            args = ["-f", "-N", "-L", spec, client_env.password_alias]
            with spawn_remoterepl(args, client_env.env) as term:
                term.wait_for_screen("password:", timeout=20)
                term.send(client_env.password + "\r")
                assert term.wait_exit(timeout=30) == 0
            assert echo_through(port) == "echo: hello\n"
            assert len(_background_children(spec)) == 1
        finally:
            assert kill_and_wait(_background_children(spec)) == []


def test_fork_after_authentication_failure_is_the_childs_status(client_env: ClientEnv) -> None:
    """-f to a login that fails: its one error line and 255, nothing left behind."""
    spec = f"{free_port()}:{LOOPBACK}:9"
    proc = run_remoterepl(["-f", "-N", "-L", spec, client_env.badkey_alias], env=client_env.env)
    assert proc.returncode == 255
    assert len(stderr_lines(proc.stderr)) == 1, proc.stderr
    assert _background_children(spec) == []


def test_fork_without_anything_to_run_is_refused(client_env: ClientEnv) -> None:
    """-f with neither -N nor a command (nor RemoteCommand): ssh's refusal, before any
    login (the parent passes on the child's status 2), nothing left behind."""
    proc = run_remoterepl(
        ["-f", "-o", "Tag=fork-refused", client_env.user_alias], env=client_env.env
    )
    assert proc.returncode == 2
    assert stderr_lines(proc.stderr) == [
        "remoterepl: Cannot fork into background without a command to execute (use -N)"
    ]
    assert _background_children("fork-refused") == []


def test_no_command_holds_until_sigterm(client_env: ClientEnv) -> None:
    """-N in the foreground (stdin not a terminal): the forward works until SIGTERM,
    which ends the run quietly with 128+15."""
    port = free_port()
    with echo_server() as echo:
        spec = f"{port}:{LOOPBACK}:{echo}"
        args = ["-v", "-N", "-L", spec, client_env.user_alias]
        with start_remoterepl(args, env=client_env.env, stdin=subprocess.DEVNULL) as proc:
            assert proc.stderr is not None
            while b"listening on" not in (line := read_line_with_timeout(proc.stderr, 30)):
                assert line, "remoterepl ended before forwarding"
            assert echo_through(port) == "echo: hello\n"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 128 + signal.SIGTERM
        assert refused(port)


def test_tilde_hash_lists_the_forwards(client_env: ClientEnv) -> None:
    """~# in an interactive session lists each forward; ~? names ~#."""
    port, socks = free_port(), free_port()
    with echo_server() as echo:
        spec = f"{port}:{LOOPBACK}:{echo}"
        args = [
            "-L",
            spec,
            "-D",
            str(socks),
            client_env.user_alias,
            "bash -c 'echo ready; exec cat'",
        ]
        with spawn_remoterepl(args, client_env.env, rows=30, cols=100) as term:
            term.wait_for_screen("ready", timeout=20)
            term.send("~#")
            term.wait_for_screen("The following forwardings are open:")
            screen = term.wait_for_screen(f"-D {socks}: listening here on localhost:{socks}")
            assert (
                f"-L {spec}: listening here on localhost:{port}, to {LOOPBACK}:{echo} from the "
                "server" in screen
            )
            term.send("~?")
            term.wait_for_screen("~#  list forwarded ports")
            term.sendcontrol("d")
            assert term.wait_exit() == 0


@pytest.mark.parametrize(("key", "status"), [("ctrl-c", 130), ("sighup", 129)])
def test_no_command_in_a_terminal_ends_quietly(
    client_env: ClientEnv, key: str, status: int
) -> None:
    """-N on a terminal: nothing is read from it, the forward works, and Ctrl-C (or the
    terminal's hang-up) ends the run with 128+N and no message of ours."""
    port = free_port()
    with echo_server() as echo:
        args = ["-v", "-N", "-L", f"{port}:{LOOPBACK}:{echo}", client_env.user_alias]
        with spawn_remoterepl(args, client_env.env, rows=40, cols=200) as term:
            term.wait_for_screen(f"listening on localhost:{port}", timeout=20)
            assert echo_through(port) == "echo: hello\n"
            shown_before = term.transcript_text()
            if key == "ctrl-c":
                term.sendcontrol("c")
            else:
                term.child.kill(signal.SIGHUP)
            assert term.wait_exit(timeout=20) == status
            after = term.transcript_text()[len(shown_before) :]
            assert "remoterepl:" not in after and "Traceback" not in after, after
    assert refused(port)


def test_unix_socket_forms(client_env: ClientEnv, tmp_path: Path) -> None:
    """-L /local.sock:HOST:PORT and -L PORT:/remote.sock (root login: the socket paths are
    in the test's private directory)."""
    local_socket, remote_socket = tmp_path / "local.sock", tmp_path / "remote.sock"
    port = free_port()
    with (
        echo_server() as echo,
        socketserver.ThreadingUnixStreamServer(str(remote_socket), _Echo) as unix_echo,
    ):
        threading.Thread(target=unix_echo.serve_forever, daemon=True).start()
        try:
            args = ["-L", f"{local_socket}:{LOOPBACK}:{echo}", "-L", f"{port}:{remote_socket}"]
            with start_remoterepl(
                [*args, client_env.root_alias, READY], env=client_env.env
            ) as proc:
                assert proc.stdout is not None and proc.stdin is not None
                assert read_line_with_timeout(proc.stdout, 30) == b"ready\n"
                with socket.socket(socket.AF_UNIX) as sock:
                    sock.settimeout(10)
                    sock.connect(str(local_socket))
                    sock.sendall(b"via socket\n")
                    assert sock.makefile("rb").readline() == b"echo: via socket\n"
                assert echo_through(port, "to socket") == "echo: to socket\n"
                proc.stdin.close()
                assert proc.wait(timeout=30) == 0
            assert not local_socket.exists()  # removed on the way out, as ssh does
        finally:
            unix_echo.shutdown()


def test_fork_after_authentication_runs_the_command_in_the_background(
    client_env: ClientEnv, tmp_path: Path
) -> None:
    """-f COMMAND: back with 0 at once; the command runs with stdin from /dev/null and its
    output, stdout and stderr, still goes where ours went (as ssh -f); remoterepl's own
    later lines (how the command ended) are dropped, as ssh's are."""
    marker = f"bg-{free_port()}"
    command = f"read line; echo {marker} read=$? line=$line; echo to-stderr >&2; kill -TERM $$"
    output, errors = tmp_path / "stdout", tmp_path / "stderr"
    try:
        with output.open("wb") as stdout, errors.open("wb") as stderr:
            parent = subprocess.run(
                remoterepl_command(["-f", client_env.user_alias, command]),
                input=b"never read\n",
                stdout=stdout,
                stderr=stderr,
                env=client_env.env,
                timeout=60,
                start_new_session=True,
            )
        assert parent.returncode == 0
        deadline = time.monotonic() + 30
        while _background_children(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _background_children(marker) == []
        assert output.read_text() == f"{marker} read=1 line=\n"
        assert errors.read_text() == "to-stderr\n"  # no "remoterepl: ... killed by SIGTERM"
    finally:
        kill_and_wait(_background_children(marker))


@contextlib.contextmanager
def unix_echo_server(path: Path) -> Iterator[None]:
    """A line echo service listening on the Unix socket ``path``."""
    server = socketserver.ThreadingUnixStreamServer(str(path), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def echo_through_socket(path: Path, text: str = "hello") -> str:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(text.encode() + b"\n")
        return sock.makefile("rb").readline().decode()


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    """The test's (and so its remoterepl's) umask."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def test_local_socket_in_use_is_refused_and_kept(client_env: ClientEnv, tmp_path: Path) -> None:
    """-L /path:... where a live socket already listens: ssh's refusal (a warning, or 255
    with ExitOnForwardFailure), and the socket at the path is left alone, also at exit."""
    path = tmp_path / "taken.sock"
    with echo_server() as echo, unix_echo_server(path):
        spec = f"{path}:{LOOPBACK}:{echo}"
        proc = run_remoterepl(["-L", spec, client_env.user_alias, "echo ran"], env=client_env.env)
        assert (proc.returncode, proc.stdout) == (0, b"ran\n")
        (line,) = stderr_lines(proc.stderr)
        assert line == (
            f"Warning: local forwarding failed (-L {spec}): "
            f"cannot bind to path {path}: Address already in use"
        )
        assert echo_through_socket(path, "still") == "echo: still\n"  # the test's own server
        options = ["-o", "ExitOnForwardFailure=yes", "-L", spec]
        proc = run_remoterepl([*options, client_env.user_alias, "echo ran"], env=client_env.env)
        assert (proc.returncode, proc.stdout) == (255, b"")
        (line,) = stderr_lines(proc.stderr)
        assert "Address already in use" in line and "ExitOnForwardFailure" in line, line
        assert echo_through_socket(path) == "echo: hello\n"


@pytest.mark.parametrize(
    ("options", "mode"), [([], 0o600), (["-o", "StreamLocalBindMask=0117"], 0o660)]
)
def test_local_socket_mode_is_the_bind_mask(
    client_env: ClientEnv, tmp_path: Path, options: list[str], mode: int
) -> None:
    """The socket of -L /path:... is made with StreamLocalBindMask (default 0177: 0600),
    whatever the umask (022 here: 0755 otherwise)."""
    path = tmp_path / "local.sock"
    with echo_server() as echo, umask(0o022):
        args = [*options, "-L", f"{path}:{LOOPBACK}:{echo}", client_env.user_alias, READY]
        with start_remoterepl(args, env=client_env.env) as proc:
            assert proc.stdout is not None and proc.stdin is not None
            assert read_line_with_timeout(proc.stdout, 30) == b"ready\n"
            assert path.stat().st_mode & 0o777 == mode
            assert echo_through_socket(path) == "echo: hello\n"
            proc.stdin.close()
            assert proc.wait(timeout=30) == 0
    assert not path.exists()


def test_local_socket_removed_at_exit_only_if_still_ours(
    client_env: ClientEnv, tmp_path: Path
) -> None:
    """At exit the socket is removed only if the path is still the one we made: another
    socket put there meanwhile stays."""
    path = tmp_path / "local.sock"
    with echo_server() as echo:
        args = ["-L", f"{path}:{LOOPBACK}:{echo}", client_env.user_alias, READY]
        with start_remoterepl(args, env=client_env.env) as proc:
            assert proc.stdout is not None and proc.stdin is not None
            assert read_line_with_timeout(proc.stdout, 30) == b"ready\n"
            path.unlink()
            with unix_echo_server(path):
                proc.stdin.close()
                assert proc.wait(timeout=30) == 0
                assert echo_through_socket(path, "mine") == "echo: mine\n"


def test_stream_local_bind_unlink_replaces_a_stale_path(
    client_env: ClientEnv, tmp_path: Path
) -> None:
    """StreamLocalBindUnlink yes: what is at the path is removed first, and the forward
    listens there."""
    path = tmp_path / "stale.sock"
    path.write_text("stale\n")
    with echo_server() as echo:
        options = ["-o", "StreamLocalBindUnlink=yes", "-L", f"{path}:{LOOPBACK}:{echo}"]
        with session_with_forwards(client_env, *options):
            assert echo_through_socket(path) == "echo: hello\n"
    assert not path.exists()


def test_session_end_waits_for_open_forwarded_connections(client_env: ClientEnv) -> None:
    """As ssh's client_loop(): when the remote command ends while a connection through
    -L is still open, that connection goes on working and remoterepl exits with the
    command's status once it is closed, not before."""
    port = free_port()
    with echo_server() as echo:
        args = ["-L", f"{port}:{LOOPBACK}:{echo}", client_env.user_alias, "echo ready; read x"]
        with start_remoterepl(args, env=client_env.env) as proc:
            assert proc.stdout is not None and proc.stdin is not None
            assert read_line_with_timeout(proc.stdout, 30) == b"ready\n"
            with socket.create_connection((LOOPBACK, port), timeout=10) as sock:
                replies = sock.makefile("rb")
                sock.sendall(b"before\n")
                assert replies.readline() == b"echo: before\n"
                proc.stdin.write(b"x\n")  # the remote command ends (before: exit 0 at once)
                proc.stdin.close()
                time.sleep(2.0)
                assert proc.poll() is None  # still there for the open connection
                sock.sendall(b"after\n")
                assert replies.readline() == b"echo: after\n"
                replies.close()  # else the socket's close waits for it
            assert proc.wait(timeout=20) == 0


def test_ctrl_c_ends_the_wait_for_forwarded_connections(client_env: ClientEnv) -> None:
    """The wait for an open forwarded connection after the session's end is cut short by
    Ctrl-C (130, quiet), as ssh's is."""
    port = free_port()
    with echo_server() as echo:
        command = "echo ready; sleep 2; echo done"
        args = ["-T", "-L", f"{port}:{LOOPBACK}:{echo}", client_env.user_alias, command]
        with spawn_remoterepl(args, client_env.env) as term:
            term.wait_for_screen("ready", timeout=30)
            with socket.create_connection((LOOPBACK, port), timeout=10) as sock:
                sock.sendall(b"hold\n")
                assert sock.makefile("rb").readline() == b"echo: hold\n"
                term.wait_for_screen("done", timeout=30)
                time.sleep(0.5)
                assert term.child.isalive()
                shown_before = term.transcript_text()
                term.sendcontrol("c")
                assert term.wait_exit(timeout=10) == 130
                after = term.transcript_text()[len(shown_before) :]
                assert "Traceback" not in after and "remoterepl:" not in after, after
