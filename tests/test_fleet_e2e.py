"""Many hosts at once, piped: the installed remoterepl with --hosts/--hosts-file/--inventory
against a real OpenSSH sshd (each "host" an ssh_config alias of it, one reached through a
jump host) and the embedded server, stdin not a terminal.

Contract (README, "Many hosts"): one long-lived COMMAND per host, stdin read once and sent
to all, each output line as ``HOST: text`` (names padded to one width; stderr lines as
``HOST! text`` on stderr), --gather groups identical output clush-style, --out-dir writes
DIR/HOST.out and DIR/HOST.err; a failing host is reported once and the others go on; the
exit status is the largest per-host one (255 for a host never reached), with a per-host
table on stderr when some host did not exit 0.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.client import remoterepl_command, run_remoterepl, start_remoterepl, stderr_lines
from tests.client_env import ClientEnv
from tests.fleet_hosts import add_host_aliases
from tests.keys import generate_key
from tests.sshd import SshdServer
from tests.system import free_port


def _lines(output: bytes) -> list[str]:
    return output.decode().splitlines()


def test_each_host_answers_once_labelled(fleet_env: ClientEnv) -> None:
    """``printf '2+2\\n' | remoterepl --hosts bar,barroot --hosts bar2 bc``: every host's
    ``4`` once, labelled with its name padded to the longest; nothing on stderr, status 0."""
    proc = run_remoterepl(
        ["--hosts", "bar,barroot", "--hosts", "bar2", "bc"], input=b"2+2\n", env=fleet_env.env
    )
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert sorted(_lines(proc.stdout)) == ["bar    : 4", "bar2   : 4", "barroot: 4"]


def test_three_destinations_one_behind_a_jump_host(client_env: ClientEnv, sshd: SshdServer) -> None:
    """Each host with its own config: ``inner`` is reached through ``bar`` (ProxyJump), as
    root; all three answer, and sshd saw four logins: bar twice (the jump's own), root twice."""
    add_host_aliases(client_env, ["bar"])
    add_host_aliases(client_env, ["barroot"], user=client_env.users.root)
    config = client_env.config_path
    config.write_text("Host inner\n    ProxyJump bar\n\n" + config.read_text())
    add_host_aliases(client_env, ["inner"], user=client_env.users.root)
    since = len(sshd.log_lines)
    proc = run_remoterepl(
        ["--hosts", "bar,barroot,inner", "bc"], input=b"2+2\n6*7\n", env=client_env.env
    )
    assert (proc.returncode, proc.stderr) == (0, b"")
    lines = _lines(proc.stdout)
    for host in ("bar", "barroot", "inner"):
        assert [line for line in lines if line.startswith(f"{host.ljust(7)}:")] == [
            f"{host.ljust(7)}: 4",
            f"{host.ljust(7)}: 42",
        ]
    log = sshd.log_text(since)
    assert log.count("Accepted publickey for root ") == 2, log
    assert log.count(f"Accepted publickey for {client_env.users.user} ") == 2, log


def test_order_of_lines_kept_per_host(fleet_env: ClientEnv) -> None:
    """200 lines from each host, interleaved between hosts as they come, each host's in
    its own order."""
    proc = run_remoterepl(
        ["--hosts", "bar,barroot,bar2", "bc"],
        input=b"for (i = 1; i <= 200; i++) i\n",
        env=fleet_env.env,
    )
    assert proc.returncode == 0, proc.stderr
    for host in ("bar", "barroot", "bar2"):
        mine = [
            line.split(": ", 1)[1]
            for line in _lines(proc.stdout)
            if line.split(":")[0].strip() == host
        ]
        assert mine == [str(i) for i in range(1, 201)], host


def test_stderr_lines_marked_on_stderr(fleet_env: ClientEnv) -> None:
    """A remote stderr line comes on our stderr as ``HOST! text``; a last line without a
    newline is shown whole at the end."""
    proc = run_remoterepl(
        ["--hosts", "bar,bar2", "sh", "-c", "'echo out; echo oops >&2; printf tail'"],
        env=fleet_env.env,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(_lines(proc.stdout)) == ["bar : out", "bar : tail", "bar2: out", "bar2: tail"]
    assert sorted(stderr_lines(proc.stderr)) == ["bar ! oops", "bar2! oops"]


def test_gather_groups_identical_output(fleet_env: ClientEnv) -> None:
    """--gather: bar and bar2 print the same, barroot (another user) differs: two groups,
    each under a clush-style header, each line once; the first group's hosts in order."""
    proc = run_remoterepl(
        ["--hosts", "bar,barroot,bar2", "--gather", "sh", "-c", "'id -un; echo same'"],
        env=fleet_env.env,
    )
    assert proc.returncode == 0, proc.stderr
    user, root = fleet_env.users.user, fleet_env.users.root
    sep = "-" * 15
    groups = [[sep, "bar,bar2 (2)", sep, user, "same"], [sep, "barroot (1)", sep, root, "same"]]
    if user == root:  # the embedded server runs every login as whoever runs the tests
        groups = [[sep, "bar,barroot,bar2 (3)", sep, user, "same"]]
    assert _lines(proc.stdout) == [line for group in groups for line in group]


def test_hosts_file(fleet_env: ClientEnv, tmp_path: Path) -> None:
    """--hosts-file: one destination per line, comments and blank lines skipped; with
    --hosts too, each host once."""
    hosts = tmp_path / "hosts"
    hosts.write_text("# the web tier\nbar\n\n  bar2   # second\nbar\n")
    proc = run_remoterepl(
        ["--hosts-file", str(hosts), "--hosts", "barroot", "echo", "hi"], env=fleet_env.env
    )
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert sorted(_lines(proc.stdout)) == ["bar    : hi", "bar2   : hi", "barroot: hi"]


def test_out_dir_gets_each_hosts_bytes(fleet_env: ClientEnv, tmp_path: Path) -> None:
    """--out-dir DIR: DIR/HOST.out and DIR/HOST.err hold exactly what each host wrote, an
    unfinished last line included; nothing is printed."""
    out = tmp_path / "out"
    proc = run_remoterepl(
        ["--hosts", "bar,bar2", "--out-dir", str(out), "sh", "-c", "'cat; echo e >&2; printf x'"],
        input=b"line 1\nline 2\n",
        env=fleet_env.env,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    for host in ("bar", "bar2"):
        assert (out / f"{host}.out").read_bytes() == b"line 1\nline 2\nx"
        assert (out / f"{host}.err").read_bytes() == b"e\n"


def test_stdin_read_once_for_every_host(fleet_env: ClientEnv) -> None:
    """8 MiB on stdin reach each of three hosts whole (the slowest host sets the pace)."""
    data = os.urandom(8 * 1024 * 1024)
    proc = run_remoterepl(
        ["--hosts", "bar,barroot,bar2", "sha256sum"], input=data, env=fleet_env.env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    digest = hashlib.sha256(data).hexdigest()
    assert sorted(_lines(proc.stdout)) == [
        f"{host.ljust(7)}: {digest}  -" for host in ("bar", "bar2", "barroot")
    ]


def test_unreachable_host_among_good_ones(fleet_env: ClientEnv) -> None:
    """A host whose port refuses: one line naming it on stderr, the others answer, the
    status is 255 and the table names the host that failed."""
    config = fleet_env.config_path
    dead = free_port()
    config.write_text(
        f"Host dead\n    HostName 127.0.0.1\n    Port {dead}\n\n" + config.read_text()
    )
    proc = run_remoterepl(["--hosts", "bar,dead,bar2", "bc"], input=b"1+1\n", env=fleet_env.env)
    assert proc.returncode == 255
    assert sorted(_lines(proc.stdout)) == ["bar : 2", "bar2: 2"]
    errors = stderr_lines(proc.stderr)
    refused = [line for line in errors if line.startswith("remoterepl: dead: ")]
    assert len(refused) == 1 and "refused" in refused[0], errors
    assert errors[-3:-1] == ["remoterepl: 1 of 3 hosts did not exit 0:", "  HOST  STATUS  HOW"]
    assert errors[-1].split()[:2] == ["dead", "255"], errors


def test_largest_status_wins(fleet_env: ClientEnv) -> None:
    """``exit 3`` on the two key-user hosts, 0 as root: status 3, the table lists the two."""
    script = '\'[ "$(id -un)" = root ] && [ "$HOME" = /root ] && exit 0; exit 3\''
    proc = run_remoterepl(["--hosts", "bar,bar2,barroot", "sh", "-c", script], env=fleet_env.env)
    errors = stderr_lines(proc.stderr)
    assert proc.returncode == 3, errors
    rows = [line.split() for line in errors if line.startswith("  bar")]
    assert ["bar", "3", "exited", "with", "status", "3"] in rows
    assert ["bar2", "3", "exited", "with", "status", "3"] in rows


def test_bad_key_host_fails_alone(fleet_env: ClientEnv) -> None:
    """A host whose key the server refuses: its authentication failure, named, once; the
    rest answer."""
    proc = run_remoterepl(
        ["--hosts", f"bar,{fleet_env.badkey_alias}", "echo", "ok"], env=fleet_env.env
    )
    assert proc.returncode == 255
    assert _lines(proc.stdout) == [f"bar{' ' * (len(fleet_env.badkey_alias) - 3)}: ok"]
    mine = [
        line
        for line in stderr_lines(proc.stderr)
        if line.startswith(f"remoterepl: {fleet_env.badkey_alias}: ")
    ]
    assert len(mine) == 1 and "ermission denied" in mine[0], proc.stderr


def test_fanout_one_still_reaches_all(fleet_env: ClientEnv) -> None:
    """--fanout 1: one set-up at a time, every host still answers."""
    proc = run_remoterepl(
        ["--fanout", "1", "--hosts", "bar,bar2,barroot", "echo", "up"], env=fleet_env.env
    )
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert len(_lines(proc.stdout)) == 3


def test_sigint_interrupts_every_host(fleet_env: ClientEnv) -> None:
    """SIGINT to remoterepl goes to every host's command by its surest route (a signal
    request; for root on OpenSSH, which ignores those, a second channel): their traps
    report it, status 130."""
    with start_remoterepl(
        [
            "--hosts",
            "bar,barroot",
            "sh",
            "-c",
            # the trap is set once sleep runs, and wait is what a trapped signal interrupts
            '\'sleep 60 & pid=$!; trap "echo caught; kill $pid; exit 130" INT; '
            "echo ready; wait $pid'",
        ],
        env=fleet_env.env,
    ) as proc:
        assert proc.stdout is not None
        seen = [proc.stdout.readline(), proc.stdout.readline()]
        assert sorted(seen) == [b"bar    : ready\n", b"barroot: ready\n"]
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        out, _err = proc.communicate(timeout=30)
        assert time.monotonic() - started < 20
    assert proc.returncode == 130
    assert sorted(_lines(out)) == ["bar    : caught", "barroot: caught"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--limit", "web", "bc"], "--limit needs --hosts"),
        (["--hosts", "a", "--limit", "web", "bc"], "--limit selects from an --inventory"),
        (["--hosts", "a", "--gather", "--out-dir", "d", "bc"], "choose one"),
        (["--hosts", "a", "-L", "8080:x:80", "bc"], "-L/-R/-D is for one DESTINATION"),
        (["--hosts", "a,,b", "bc"], "empty host name"),
        (["--hosts", "a", "--fanout", "0", "bc"], "bad --fanout"),
        (["--hosts-file", "/nonexistent/hosts", "bc"], "No such file"),
        (["--hosts=-oProxyCommand=x", "bc"], "bad destination"),
    ],
)
def test_usage_errors(embedded_env: ClientEnv, args: list[str], words: str) -> None:
    """Bad many-hosts options: one line naming the problem, status 2, nothing contacted."""
    proc = run_remoterepl(args, env=embedded_env.env)
    assert proc.returncode == 2, proc.stderr
    assert words in stderr_lines(proc.stderr)[0], proc.stderr


def test_options_after_command_belong_to_it(fleet_env: ClientEnv) -> None:
    """With --hosts the first word is COMMAND: ``-c`` after ``sh`` is sh's, not ours."""
    proc = run_remoterepl(["--hosts", "bar", "sh", "-c", "'echo $0'"], env=fleet_env.env)
    assert (proc.returncode, _lines(proc.stdout)) == (0, ["bar: sh"]), proc.stderr


def test_reader_gone_stops_quietly(fleet_env: ClientEnv) -> None:
    """``| head -1``: once the reader has gone, remoterepl stops, quietly."""
    command = shlex.join(remoterepl_command(["--hosts", "bar,bar2", "yes"]))
    proc = subprocess.run(
        ["sh", "-c", f"{command} | head -1"], capture_output=True, env=fleet_env.env, timeout=60
    )
    assert proc.stdout in (b"bar : y\n", b"bar2: y\n")
    assert proc.stderr == b""


def _inventory_env(env: ClientEnv) -> None:
    """Keys and known hosts for 127.0.0.1 itself: inventory hosts name it by ansible_host."""
    config = env.config_path
    config.write_text(
        f"Host {env.host}\n    IdentityFile {env.key_path}\n    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {env.known_hosts_path}\n\n" + config.read_text()
    )


def test_ini_inventory_with_limit(fleet_env: ClientEnv, tmp_path: Path) -> None:
    """An INI inventory: groups, children, [group:vars], ansible_host/port/user; --limit
    with a union and an exclusion picks the hosts, labelled by their inventory names."""
    _inventory_env(fleet_env)
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        f"""\
[web]
web[1:3] ansible_host={fleet_env.host}

[db]
db1 ansible_host={fleet_env.host} ansible_user={fleet_env.users.root}

[prod:children]
web
db

[prod:vars]
ansible_port={fleet_env.port}
ansible_user={fleet_env.users.user}
"""
    )
    proc = run_remoterepl(
        ["--inventory", str(inventory), "--limit", "web:db:!web2", "sh", "-c", "'id -un'"],
        env=fleet_env.env,
    )
    assert (proc.returncode, proc.stderr) == (0, b"")
    user, root = fleet_env.users.user, fleet_env.users.root
    assert sorted(_lines(proc.stdout)) == [f"db1 : {root}", f"web1: {user}", f"web3: {user}"]


def test_yaml_inventory_with_limit(fleet_env: ClientEnv, tmp_path: Path) -> None:
    """A YAML inventory, --limit by glob and intersection; --gather over it."""
    _inventory_env(fleet_env)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        f"""\
all:
  vars:
    ansible_host: {fleet_env.host}
    ansible_port: {fleet_env.port}
    ansible_user: {fleet_env.users.user}
  children:
    app:
      hosts:
        app01:
        app02:
        other:
    staging:
      hosts:
        app02:
        other:
"""
    )
    proc = run_remoterepl(
        ["--inventory", str(inventory), "--limit", "app0*", "--gather", "echo", "up"],
        env=fleet_env.env,
    )
    assert (proc.returncode, proc.stderr) == (0, b"")
    sep = "-" * 15
    assert _lines(proc.stdout) == [sep, "app[01-02] (2)", sep, "up"]
    proc = run_remoterepl(
        ["--inventory", str(inventory), "--limit", "app:&staging", "echo", "up"],
        env=fleet_env.env,
    )
    assert sorted(_lines(proc.stdout)) == ["app02: up", "other: up"], proc.stderr


def test_inventory_limit_matching_nothing(embedded_env: ClientEnv, tmp_path: Path) -> None:
    """--limit that selects no host: one line, status 2."""
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[web]\nweb1\n")
    proc = run_remoterepl(
        ["--inventory", str(inventory), "--limit", "db", "bc"], env=embedded_env.env
    )
    assert proc.returncode == 2
    assert stderr_lines(proc.stderr) == [f"remoterepl: --limit db matches no host in {inventory}"]


def test_timeout_and_changed_key_fail_alone(
    fleet_env: ClientEnv, silent_listener: int, tmp_path: Path
) -> None:
    """A host that never answers (ConnectTimeout 1) and one whose host key changed: each
    named once with its reason; bar answers; status 255, both in the table."""
    impostor = generate_key(tmp_path / "impostor")
    known = tmp_path / "known_changed"
    known.write_text(f"[{fleet_env.host}]:{fleet_env.port} {impostor.public_line}\n")
    add_host_aliases(fleet_env, ["changed"], extra=[f"UserKnownHostsFile {known}"])
    config = fleet_env.config_path
    config.write_text(
        f"Host slow\n    HostName 127.0.0.1\n    Port {silent_listener}\n    ConnectTimeout 1\n\n"
        + config.read_text()
    )
    proc = run_remoterepl(
        ["--hosts", "bar,slow,changed", "echo", "ok"], env=fleet_env.env, timeout=60
    )
    assert proc.returncode == 255
    assert _lines(proc.stdout) == ["bar    : ok"]
    errors = stderr_lines(proc.stderr)
    slow = [line for line in errors if line.startswith("remoterepl: slow: ")]
    changed = [line for line in errors if line.startswith("remoterepl: changed: ")]
    assert len(slow) == 1 and "timed out" in slow[0], errors
    assert len(changed) == 1 and "CHANGED" in changed[0], errors
    table = {line.split()[0]: line.split()[1] for line in errors if line.startswith("  ")}
    assert table == {"HOST": "STATUS", "slow": "255", "changed": "255"}, errors


def test_host_lost_mid_session_others_go_on(client_env: ClientEnv) -> None:
    """bar2's sshd session process killed mid-session: bar2 reported lost, once, what it
    had sent kept; bar goes on to the end (its stdin's EOF); status 255."""
    add_host_aliases(client_env, ["bar", "bar2"])
    with start_remoterepl(
        ["--hosts", "bar,bar2", "sh", "-c", "'echo pids $$ $PPID; cat'"], env=client_env.env
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        seen = dict(
            line.decode().split(": ", 1)
            for line in (proc.stdout.readline(), proc.stdout.readline())
        )
        session = int(seen["bar2"].split()[2])
        os.kill(session, signal.SIGKILL)
        time.sleep(0.5)
        proc.stdin.write(b"still here\n")
        out, err = proc.communicate(timeout=30)  # then our stdin's EOF
    assert proc.returncode == 255
    assert _lines(out) == ["bar : still here"]
    lost = [line for line in stderr_lines(err) if line.startswith("remoterepl: bar2: ")]
    assert len(lost) == 1 and "lost" in lost[0], err
    assert stderr_lines(err)[-1].split()[:2] == ["bar2", "255"], err


def test_remote_killed_by_signal_status(fleet_env: ClientEnv) -> None:
    """A host whose command dies of SIGKILL: 128+9 for it, the table says so."""
    proc = run_remoterepl(
        [
            "--hosts",
            "bar,bar2",
            "sh",
            "-c",
            "'[ \"$LC_RRHOST\" = bar2 ] && kill -KILL $$; echo ok'",
        ],
        env=fleet_env.env,
    )
    assert proc.returncode == 137, proc.stderr
    assert _lines(proc.stdout) == ["bar : ok"]
    rows = [line.split() for line in stderr_lines(proc.stderr) if line.startswith("  bar2")]
    assert rows == [["bar2", "137", "remote", "process", "killed", "by", "SIGKILL"]], proc.stderr
