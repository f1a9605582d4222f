"""The child process of an embedded-server session: started as sshd starts it, in a new
session and process group, on a fresh pty or on three pipes, with sshd's environment."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pwd
import signal
import termios
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import asyncssh

from remoterepl.embedded._tty import TermSize, open_pty

# Dispositions a parent may have set to SIG_IGN (which exec keeps); children start clean.
_RESET_SIGNALS = (
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGHUP,
    signal.SIGTERM,
    signal.SIGTSTP,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGALRM,
    signal.SIGCHLD,
)


@dataclass(frozen=True)
class ServerConfig:
    """What every connection and session of one server needs to know."""

    users: frozenset[str]
    keys: frozenset[bytes]
    authorized_file: str | None  # an authorized_keys file, read for every connection
    password: str | None
    ignore_signals: bool
    allow_tcp_forwarding: bool
    shell: str
    env: Mapping[str, str]
    sftp_server: str | None = None  # the program behind the "sftp" subsystem (None: refused)


@dataclass(frozen=True)
class ChildRequest:
    """What the client asked to run, and on what kind of terminal."""

    command: str | None  # None: the login shell
    subsystem: str | None  # the program behind a subsystem (sftp), instead of a shell
    term_type: str | None  # None: no pty
    term_size: TermSize = (0, 0, 0, 0)
    term_modes: Mapping[int, int] = field(default_factory=dict)


@dataclass
class Child:
    """A started child and our ends of its terminal or pipes."""

    process: asyncio.subprocess.Process
    stdin: int  # where client data goes (a pipe, or the pty master)
    outputs: dict[int, asyncssh.DataType]  # fd -> None (stdout) or stderr
    fds: set[int]  # every parent-side fd
    master: int | None = None  # the pty master, if there is a pty


async def spawn_child(
    config: ServerConfig,
    request: ChildRequest,
    channel_env: Mapping[str, str],
    tell: Callable[[str], None],
) -> Child:
    """Start the child; ``tell`` shows sshd's notes (on the session's stderr). Raises
    OSError, ValueError or SubprocessError, with our ends of the pipes closed."""
    executable, (argv0, *args) = _argv(config, request)
    home = _home_dir()
    cwd = home if os.path.isdir(home) else "/"  # as sshd: the session still starts
    if cwd != home:
        tell(f"Could not chdir to home directory {home}: No such file or directory\n")
    tty_name: str | None = None
    master: int | None = None
    outputs: dict[int, asyncssh.DataType]
    if request.term_type is not None:
        master, slave = open_pty(request.term_size, request.term_modes)
        child_fds = (slave, slave, slave)
        stdin, outputs = master, {master: None}
    else:
        child_fds, stdin, outputs = _open_pipes()
    ours = {stdin, *outputs}
    try:
        if master is not None:
            tty_name = os.ttyname(child_fds[0])
        process = await asyncio.create_subprocess_exec(
            argv0,
            *args,
            executable=executable,
            stdin=child_fds[0],
            stdout=child_fds[1],
            stderr=child_fds[2],
            env=_child_env(config, channel_env, tty_name, request.term_type),
            cwd=cwd,
            start_new_session=True,  # own session and process group, like sshd
            preexec_fn=_child_setup(controlling_tty=tty_name is not None),
        )
    except BaseException:
        for fd in ours:
            os.close(fd)
        raise
    finally:
        for fd in set(child_fds):
            os.close(fd)
    return Child(process, stdin, outputs, ours, master)


def channel_environment(chan: asyncssh.SSHServerChannel[bytes]) -> dict[str, str]:
    """What the channel adds to the child's environment, as sshd would: the client's
    ``env`` requests (AcceptEnv *), SSH_CLIENT/SSH_CONNECTION, a forwarded agent."""
    env = dict(chan.get_environment())
    env.update(_ssh_connection_env(chan))
    agent = chan.get_agent_path()
    if agent:
        env["SSH_AUTH_SOCK"] = agent
    return env


def _ssh_connection_env(chan: asyncssh.SSHServerChannel[bytes]) -> dict[str, str]:
    """SSH_CLIENT and SSH_CONNECTION as sshd sets them."""
    peer = chan.get_extra_info("peername")
    local = chan.get_extra_info("sockname")
    if not peer or not local:
        return {}
    return {
        "SSH_CLIENT": f"{peer[0]} {peer[1]} {local[1]}",
        "SSH_CONNECTION": f"{peer[0]} {peer[1]} {local[0]} {local[1]}",
    }


def _open_pipes() -> tuple[tuple[int, int, int], int, dict[int, asyncssh.DataType]]:
    """stdin/stdout/stderr pipes: the child's ends, our stdin end, our output ends."""
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    for fd in (in_w, out_r, err_r):
        os.set_blocking(fd, False)
    return (in_r, out_w, err_w), in_w, {out_r: None, err_r: asyncssh.EXTENDED_DATA_STDERR}


def _argv(config: ServerConfig, request: ChildRequest) -> tuple[str, list[str]]:
    """The child's program and argv: ``SHELL -c COMMAND``, ``-SHELLNAME`` for a login
    shell, or the subsystem's program."""
    if request.subsystem is not None:
        return request.subsystem, [request.subsystem]
    shell = config.shell
    if request.command is None:
        return shell, ["-" + os.path.basename(shell)]
    return shell, [shell, "-c", request.command]


def _child_env(
    config: ServerConfig,
    channel_env: Mapping[str, str],
    tty_name: str | None,
    term_type: str | None,
) -> dict[str, str]:
    """The child's environment: ours, minus ssh/terminal leftovers, plus sshd's variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSH_") and k != "TERM"}
    user = pwd.getpwuid(os.getuid()).pw_name
    env.update(USER=user, LOGNAME=user, HOME=_home_dir(), SHELL=config.shell)
    env.update(config.env)
    env.update(channel_env)
    if tty_name is not None:
        env.update(SSH_TTY=tty_name, TERM=term_type or "dumb")
    return env


def _child_setup(controlling_tty: bool) -> Callable[[], None]:
    """Return a preexec_fn: default signal dispositions, and the pty as controlling tty."""

    def setup() -> None:
        # Runs in the forked child after setsid(), before exec.
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        for signum in _RESET_SIGNALS:
            with contextlib.suppress(OSError, ValueError):
                signal.signal(signum, signal.SIG_DFL)
        if controlling_tty:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    return setup


def _home_dir() -> str:
    return os.environ.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir
