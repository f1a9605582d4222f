"""How a remote death by signal is reported (issue 12, defect 5).

OpenSSH 9.2's sshd names 13 signals in exit-signal (sig2name() in session.c: ABRT ALRM
FPE HUP ILL INT KILL PIPE QUIT SEGV TERM USR1 USR2) and sends the placeholder
``SIG@openssh.com`` for every other one (BUS, STKFLT, the real-time signals...). That is
never taken for a signal it is not: one line says the server did not name it, status 128
(:attr:`ExitStatus.UNNAMED_SIGNAL`). The embedded server names every signal (real-time
ones as ``RTMIN+k``), so there the status is 128+N.
"""

from __future__ import annotations

import signal
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remoterepl.cli import exit_status
from remoterepl.embedded.session import _signal_name
from remoterepl.outcome import OPENSSH_NAMELESS_SIGNAL, ExitStatus, RemoteKilled, signal_number
from tests.client import assert_one_line_error, run_remoterepl, spawn_remoterepl
from tests.client_env import ClientEnv

#: Linux (x86, ARM) numbers it 16; Python's signal module names it only from 3.11 on.
SIGSTKFLT = 16
UNNAMED_LINE = "remoterepl: remote process killed by a signal the server did not name"
OPENSSH_NAMED = [
    "ABRT",
    "ALRM",
    "FPE",
    "HUP",
    "ILL",
    "INT",
    "KILL",
    "PIPE",
    "QUIT",
    "SEGV",
    "TERM",
    "USR1",
    "USR2",
]


@pytest.mark.parametrize("sig", ["STKFLT", "BUS", "RTMIN+3", "RTMAX"])
def test_openssh_unnamed_signal(client_env: ClientEnv, sig: str) -> None:
    """Real sshd, the remote shell kills itself with a signal sshd has no name for: one
    line that says so, status 128, never SIGTERM's 143."""
    proc = run_remoterepl(
        [client_env.user_alias, f"echo before; kill -{sig} $$"], env=client_env.env
    )
    assert proc.stdout == b"before\n"
    assert proc.returncode == int(ExitStatus.UNNAMED_SIGNAL), proc.stderr
    assert proc.returncode == 128
    assert assert_one_line_error(proc.stderr) == UNNAMED_LINE


def test_openssh_named_signal(client_env: ClientEnv) -> None:
    """A signal sshd names (USR1) is reported by name with 128+N."""
    proc = run_remoterepl([client_env.user_alias, "kill -USR1 $$"], env=client_env.env)
    assert proc.returncode == 128 + signal.SIGUSR1, proc.stderr
    assert assert_one_line_error(proc.stderr) == "remoterepl: remote process killed by SIGUSR1"


@pytest.mark.parametrize(
    ("sig", "number"),
    [("STKFLT", SIGSTKFLT), ("BUS", signal.SIGBUS), ("RTMIN+3", signal.SIGRTMIN + 3)],
)
def test_embedded_names_every_signal(embedded_env: ClientEnv, sig: str, number: int) -> None:
    """The embedded server tells the number: 128+N and the signal's name."""
    proc = run_remoterepl([embedded_env.user_alias, f"kill -{sig} $$"], env=embedded_env.env)
    assert proc.returncode == 128 + number, proc.stderr
    assert assert_one_line_error(proc.stderr) == f"remoterepl: remote process killed by SIG{sig}"


def test_unnamed_signal_in_the_editor(client_env: ClientEnv) -> None:
    """Interactive: the screen says the server did not name it; status 128."""
    with spawn_remoterepl(
        [client_env.user_alias, "sleep 0.5; kill -STKFLT $$"], client_env.env
    ) as term:
        assert term.wait_exit(timeout=20) == 128
        screen = term.screen_text()
    assert "killed by a signal the server did not name" in screen, screen
    assert "SIGSIG" not in screen and "SIGTERM" not in screen, screen


# --------------------------------------------------------------------------- units


def test_every_signal_named_by_the_embedded_server_maps_back_to_its_number() -> None:
    """Each signal 1..SIGRTMAX: the embedded server's name gives the client its number."""
    numbers = [n for n in range(1, int(signal.SIGRTMAX) + 1) if _signal_name(n) is not None]
    assert len(numbers) >= 60  # 31 classic signals (not 32, 33: glibc's) and 31 real-time
    for number in numbers:
        name = _signal_name(number)
        assert name is not None
        assert signal_number(name) == number, name
        assert exit_status(RemoteKilled(name)) == 128 + number


def test_every_classic_signal_is_named_on_every_python() -> None:
    """1..31 all have names both ways, STKFLT too: Python 3.10's signal module lacks it."""
    names = {number: _signal_name(number) for number in range(1, 32)}
    assert names[SIGSTKFLT] == "STKFLT"
    assert signal_number("STKFLT") == SIGSTKFLT
    assert all(name is not None and signal_number(name) == n for n, name in names.items())


def test_openssh_names_map_to_their_numbers() -> None:
    for name in OPENSSH_NAMED:
        assert signal_number(name) == int(signal.Signals[f"SIG{name}"])
    assert signal_number(OPENSSH_NAMELESS_SIGNAL) is None
    assert exit_status(RemoteKilled(OPENSSH_NAMELESS_SIGNAL)) == 128


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20))
def test_no_name_is_a_guess(name: str) -> None:
    """Any name a server may send: a signal number that exists here, or none (status
    128); the message is one printable line."""
    killed = RemoteKilled(name, message=name)
    number = killed.number
    if number is not None:
        assert 1 <= number <= signal.SIGRTMAX
        assert exit_status(killed) == 128 + number
    else:
        assert exit_status(killed) == 128
    text = killed.describe()
    assert not any(unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp", "Cs"} for c in text), text
    assert "SIGSIG" not in text
