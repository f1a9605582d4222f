"""``remoterepl-demo``: try remoterepl against a private embedded SSH server, no sshd needed.

usage: remoterepl-demo [REMOTEREPL OPTIONS...] [COMMAND [ARG...]]

Starts an embedded server on 127.0.0.1 (ephemeral port) with throw-away keys in a private
temp dir, then runs ``python -m remoterepl -F CONFIG [OPTIONS] embedded COMMAND`` in the
foreground.  COMMAND defaults to ``bc -q`` when bc is installed, else the login shell.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence

import asyncssh

from remoterepl.embedded.client_files import ClientFiles, write_client_files
from remoterepl.embedded.server import start_server

USAGE = "usage: remoterepl-demo [REMOTEREPL OPTIONS...] [COMMAND [ARG...]]"

# Options that take a value, in ssh's getopt string (remoterepl's -p -l -i -F -o -J among them),
# and remoterepl's long ones (tests/test_demo.py keeps these in step with its parser).
_VALUE_OPTIONS = frozenset("BbcDEeFIiJLlmOoPpQRSWw")
LONG_VALUE_OPTIONS = frozenset(
    {
        "--password-file",
        "--config",
        "--record",
        "--lexer",
        "--stdin",
        "--stdout",
        "--stderr",
        "--completion",
        "--hosts",
        "--hosts-file",
        "--inventory",
        "--persist",
        "--kill-session",
        "--reconnect-for",
        "--limit",
        "--out-dir",
        "--fanout",
    }
)
_NO_COMMAND_OPTIONS = {"--sessions", "--kill-session"}  # they run no remote command
_CLIENTS = ("remoterepl", "ssh")  # "ssh": hidden, to check the server with OpenSSH's client


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``remoterepl-demo``; returns the client's exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--help"]:
        print(USAGE, file=sys.stdout)
        return 0
    client, args = _take_client_choice(args)
    if client not in _CLIENTS:
        print(f"remoterepl-demo: unknown --client {client!r}\n{USAGE}", file=sys.stderr)
        return 2
    options, command = split_client_args(args)
    listing = any(arg.split("=")[0] in _NO_COMMAND_OPTIONS for arg in options)
    if not command and not listing and shutil.which("bc"):
        command = ["bc", "-q"]
    try:
        return asyncio.run(_demo(client, options, command))
    except KeyboardInterrupt:  # only possible before the handler is installed
        return 130


def split_client_args(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``[OPTIONS...] [COMMAND...]`` where ssh's getopt would: at the first non-option."""
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            return list(args[:index]), list(args[index + 1 :])
        if not arg.startswith("-") or arg == "-":
            break
        index += 1
        if arg.startswith("--"):  # one long option, "--name VALUE" or "--name=VALUE"
            index += arg in LONG_VALUE_OPTIONS
            continue
        for pos, letter in enumerate(arg[1:], start=1):
            if letter in _VALUE_OPTIONS:
                if pos == len(arg) - 1:  # "-p 2222": the value is the next word
                    index += 1
                break
    return list(args[:index]), list(args[index:])


def _take_client_choice(args: list[str]) -> tuple[str, list[str]]:
    """Remove a leading ``--client NAME`` / ``--client=NAME``; default remoterepl."""
    if args[:1] == ["--client"] and len(args) > 1:
        return args[1], args[2:]
    if args and args[0].startswith("--client="):
        return args[0].partition("=")[2], args[1:]
    return "remoterepl", args


async def _demo(client: str, options: list[str], command: list[str]) -> int:
    """Serve on 127.0.0.1 while the client runs in the foreground; clean up afterwards."""
    loop = asyncio.get_running_loop()
    # Ctrl-C reaches the whole foreground group: it belongs to the client, not to us.  A
    # handler (not SIG_IGN) so that children, which exec, get the default disposition back.
    loop.add_signal_handler(signal.SIGINT, lambda: None)
    tmp = await asyncio.to_thread(tempfile.mkdtemp, prefix="remoterepl-demo-")  # mode 0700
    try:
        key = asyncssh.generate_private_key("ssh-ed25519")
        server = await start_server([key])
        try:
            files = await asyncio.to_thread(write_client_files, tmp, server, key)
            argv = _client_argv(client, files, options, command)
            user = pwd.getpwuid(os.getuid()).pw_name
            print(
                f"remoterepl-demo: embedded SSH server on {server.host}:{server.port}"
                f" (as {user}); running: {shlex.join(argv[2:] if client != 'ssh' else argv)}",
                file=sys.stderr,
            )
            return await _run_client(argv)
        finally:
            server.close()
            await server.wait_closed()
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        await asyncio.to_thread(shutil.rmtree, tmp, ignore_errors=True)


def _client_argv(
    client: str, files: ClientFiles, options: list[str], command: list[str]
) -> list[str]:
    """The client command line: options first, then the ``embedded`` alias, then COMMAND."""
    prefix = ["ssh"] if client == "ssh" else [sys.executable, "-m", "remoterepl"]
    return [*prefix, "-F", str(files.config), *options, files.alias, *command]


async def _run_client(argv: list[str]) -> int:
    """Run the client with our stdin/stdout/stderr; forward TERM/HUP; return its status."""
    try:
        proc = await asyncio.create_subprocess_exec(*argv)
    except OSError as exc:
        print(f"remoterepl-demo: cannot run {argv[0]}: {exc}", file=sys.stderr)
        return 255
    loop = asyncio.get_running_loop()
    forwarded = (signal.SIGTERM, signal.SIGHUP)
    for signum in forwarded:
        loop.add_signal_handler(signum, _forward_signal, proc, signum)
    try:
        status = await proc.wait()
    finally:
        for signum in forwarded:
            loop.remove_signal_handler(signum)
    return status if status >= 0 else 128 - status


def _forward_signal(proc: asyncio.subprocess.Process, signum: int) -> None:
    if proc.returncode is None:
        proc.send_signal(signum)
