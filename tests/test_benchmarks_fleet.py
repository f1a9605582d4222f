"""The fleet benchmark's own machinery (benchmarks/fleet.py), without an sshd: the generated
ssh_config as OpenSSH reads it, clush's node set, the reader of a fan-out session's
``HOST: text`` lines, the per-extra-host arithmetic and the tables."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.fleet import Fleet, derived_fleet_metrics, write_fleet
from benchmarks.fleet_procs import FanOutSession
from benchmarks.model import CLUSH, PSSH, RR, SSH, Metric, rotating
from benchmarks.procs import BenchError
from benchmarks.report import markdown_table
from tests.client_env import ClientEnv, TestUsers, client_environment


def _client(tmp_path: Path) -> ClientEnv:
    home = tmp_path / "home"
    return ClientEnv(
        home=home,
        env=client_environment(home),
        config_path=tmp_path / "unused",
        known_hosts_path=tmp_path / "known_hosts",
        key_path=tmp_path / "id_ed25519",
        bad_key_path=tmp_path / "id_bad",
        port=40022,
        host_key_line="",
        users=TestUsers(user="rrtest", root="root", password_user="rrpass"),
        kind="sshd",
    )


def test_every_fleet_name_is_its_own_host_block_for_openssh(tmp_path: Path) -> None:
    """``ssh -G`` resolves h001 and h012 (of 12) to the server, login, key and known_hosts,
    in the config of one block per host and in the one of a single ``Host h*`` block."""
    if shutil.which("ssh") is None:
        pytest.skip("OpenSSH client missing")
    client = _client(tmp_path)
    fleet = write_fleet(tmp_path / "fleet", client, 12)
    assert fleet.names[0] == "h001" and fleet.names[-1] == "h012" and len(fleet.names) == 12
    listed = [
        line for line in fleet.hosts_file.read_text().splitlines() if not line.startswith("#")
    ]
    assert tuple(listed) == fleet.names
    assert fleet.pattern_config_path is not None
    for config, name in [
        (c, n) for c in (fleet.config_path, fleet.pattern_config_path) for n in ("h001", "h012")
    ]:
        out = subprocess.run(
            ["ssh", "-G", "-F", str(config), name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        assert "hostname 127.0.0.1" in out
        assert "port 40022" in out and "user rrtest" in out
        assert f"identityfile {client.key_path}" in out
        assert f"userknownhostsfile {client.known_hosts_path}" in out
    unknown = subprocess.run(
        ["ssh", "-G", "-F", str(fleet.config_path), "h013"], capture_output=True, text=True
    ).stdout.splitlines()
    assert "hostname 127.0.0.1" not in unknown


def test_clush_nodeset_names_exactly_the_fleet(tmp_path: Path) -> None:
    """clush's ``h[001-N]`` expands (by ClusterShell's own ``nodeset -e``) to the N names."""
    fleet = write_fleet(tmp_path / "fleet", _client(tmp_path), 120)
    assert fleet.nodeset == "h[001-120]"
    if shutil.which("nodeset") is None:
        pytest.skip("clustershell not installed")
    expanded = subprocess.run(
        ["nodeset", "-e", fleet.nodeset], capture_output=True, text=True, check=True
    ).stdout.split()
    assert tuple(expanded) == fleet.names


def _fake_fanout(tmp_path: Path, lines_per_input: list[str]) -> list[str]:
    """A local stand-in printing *lines_per_input* for every line read (no SSH involved)."""
    script = tmp_path / "fake.py"
    script.write_text(
        "import sys\n"
        "for _ in sys.stdin:\n"
        f"    sys.stdout.write({''.join(line + chr(10) for line in lines_per_input)!r})\n"
        "    sys.stdout.flush()\n"
    )
    return [sys.executable, str(script)]


def test_fanout_reader_waits_for_every_host_padded_names_included(tmp_path: Path) -> None:
    """Answers from all hosts (names padded to one width) end a round; two rounds work."""
    argv = _fake_fanout(tmp_path, ["h1  : 2", "h22 : 2", "h333: 2"])
    session = FanOutSession(argv, {}, ["h1", "h22", "h333"])
    for _ in range(2):
        assert session.answer_all(b"1+1", b"2", timeout=10) >= 0
    assert session.close() > 0  # peak RSS of the stand-in, KiB


@pytest.mark.parametrize(
    "output",
    [
        ["h1: 2", "h1: 2"],  # one host twice, the other never
        ["h1: 2", "h2: 3"],  # a wrong answer
        ["h1: 2", "h9: 2"],  # a host not in the fleet
        ["h1: 2", "h2 2"],  # no label
    ],
)
def test_fanout_reader_rejects_what_is_not_one_right_answer_per_host(
    tmp_path: Path, output: list[str]
) -> None:
    """Anything but each host answering once, correctly, fails the run."""
    session = FanOutSession(_fake_fanout(tmp_path, output), {}, ["h1", "h2"])
    try:
        with pytest.raises(BenchError, match="unexpected output line"):
            session.answer_all(b"1+1", b"2", timeout=10)
    finally:
        session.abort()


def test_fanout_reader_reports_a_client_that_ends_early(tmp_path: Path) -> None:
    """EOF before every host answered is an error naming how many did."""
    script = tmp_path / "quit.py"
    script.write_text("import sys\nsys.stdin.readline()\nprint('h1: 2')\nsys.exit(3)\n")
    session = FanOutSession([sys.executable, str(script)], {}, ["h1", "h2"])
    try:
        with pytest.raises(BenchError, match="1 of 2 hosts"):
            session.answer_all(b"1+1", b"2", timeout=10)
    finally:
        session.abort()


def _rss(key: str, hosts: int, values: dict[str, float]) -> Metric:
    samples = {who: [value] for who, value in values.items()}
    return Metric(key, key, "MiB", "lower", samples, stat="max", extra={"hosts": hosts})


def test_memory_per_extra_host_is_the_growth_over_the_extra_hosts() -> None:
    """(peak at 500 - peak at 200) / 300, in KiB, per contender with both figures."""
    small = _rss("fleet_200_rss", 200, {RR: 50.0, PSSH: 40.0})
    large = _rss("fleet_500_rss", 500, {RR: 80.0, PSSH: 100.0, CLUSH: 25.0})
    (marginal,) = derived_fleet_metrics([small, large])
    assert marginal.samples == {RR: [30 * 1024 / 300], PSSH: [60 * 1024 / 300]}
    assert derived_fleet_metrics([small]) == []


def test_ratio_is_to_the_better_rival_and_tables_split_by_rivals() -> None:
    """A fleet figure compares with the faster of parallel-ssh and clush; it gets its own
    table, after the ssh one."""
    fleet = Metric(
        "f", "fleet set-up", "s", "lower", {RR: [3.0], PSSH: [4.0], CLUSH: [6.0]}, target=1.0
    )
    fleet.versus = (PSSH, CLUSH)
    single = Metric("s", "start-up", "ms", "lower", {RR: [2.0], SSH: [1.0]}, target=1.0)
    assert fleet.ratio() == pytest.approx(0.75) and fleet.met() is True
    assert single.ratio() == pytest.approx(2.0) and single.met() is False
    tables = markdown_table([single, fleet]).split("\n\n")
    assert tables[0].splitlines()[0].startswith("| figure | unit | remoterepl | ssh | ratio")
    assert "| remoterepl | parallel-ssh | clush | ratio |" in tables[1].splitlines()[0]
    assert "| fleet set-up | s | 3.00 | 4.00 | 6.00 | 0.75x | ≤ 1x | yes |" in tables[1]


def test_rotating_puts_each_contender_in_each_place() -> None:
    """Three runs of three contenders: every one goes first once."""
    orders = list(rotating((RR, PSSH, CLUSH), 3))
    assert [o[0] for o in orders] == [RR, PSSH, CLUSH]
    assert all(sorted(o) == sorted((RR, PSSH, CLUSH)) for o in orders)


def test_fleet_nodeset_follows_the_names() -> None:
    """The folded notation is built from the first and last names."""
    fleet = Fleet(("h001", "h002", "h003"), Path("c"), Path("h"))
    assert fleet.nodeset == "h[001-003]"
