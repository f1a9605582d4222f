"""Finding the sshd processes of one client connection (tests/sshd_session.py), directly
and through the link proxy, and freezing the one that speaks the protocol."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.client import read_line_with_timeout
from tests.client_env import ClientEnv
from tests.link_proxy import LinkProxy, trust_proxy
from tests.sshd_session import client_ports, find_sshd_session, frozen, process_state

pytestmark = pytest.mark.timeout(60)

KEEPALIVE = ["-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=2"]


def start_ssh(env: ClientEnv, *options: str) -> subprocess.Popen[bytes]:
    """OpenSSH's client running a remote that prints its parent (the session sshd)."""
    return subprocess.Popen(
        env.ssh_args(*options, env.user_alias, "echo parent $PPID; exec sleep 60"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env.env,
        start_new_session=True,
    )


def parent_of_remote(proc: subprocess.Popen[bytes]) -> int:
    assert proc.stdout is not None
    found = re.match(rb"parent (\d+)\n", read_line_with_timeout(proc.stdout, 20))
    assert found is not None
    return int(found[1])


def test_finds_the_session_of_a_direct_connection(client_env: ClientEnv) -> None:
    """By the client's source port: the ``USER@notty`` child (the remote's parent) and
    the root ``[priv]`` monitor above it."""
    proc = start_ssh(client_env)
    try:
        parent = parent_of_remote(proc)
        (port,) = client_ports(proc.pid, client_env.port)
        found = find_sshd_session(client_env.port, port)
        assert (found.session, found.user) == (parent, client_env.users.user)
        assert found.monitor is not None
        status = Path(f"/proc/{found.session}/status").read_text()
        assert re.search(rf"^PPid:\s+{found.monitor}$", status, re.M), status
    finally:
        proc.kill()
        proc.wait(10)


def test_frozen_session_behind_the_proxy_ends_by_keepalive(client_env: ClientEnv) -> None:
    """Through the proxy the sshd sees the proxy's ports: found by those. SIGSTOPped, it
    answers no keepalive and OpenSSH's client gives up (255) within the keepalive bound;
    SIGCONT afterwards (it then ends: its client is gone)."""
    with LinkProxy(client_env.port) as proxy:
        trust_proxy(client_env, proxy)
        proc = start_ssh(client_env, "-p", str(proxy.port), *KEEPALIVE)
        try:
            parent = parent_of_remote(proc)
            (port,) = proxy.upstream_ports()
            found = find_sshd_session(client_env.port, port)
            assert found.session == parent
            with frozen(found.session):
                assert process_state(found.session) == "T"
                started = time.monotonic()
                assert proc.wait(20) == 255
                assert time.monotonic() - started < 2 + 6
            assert process_state(found.session) != "T"
        finally:
            proc.kill()
            proc.wait(10)
