"""The pure parts of many-hosts runs: host files, labels, whole lines, clush-style folding
and grouping, the status table, and how the command line reads with --hosts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from remoterepl.cli import exit_status, parse_args
from remoterepl.errors import UsageError
from remoterepl.fanout.gather import Gathered, fold, render_groups
from remoterepl.fanout.hosts import FleetHost, choose_hosts, read_hosts_file
from remoterepl.fanout.lines import MAX_LINE, LineJoiner, clean
from remoterepl.fanout.output import Labels, OutDir, Prefixed, file_name
from remoterepl.fanout.report import status_table
from remoterepl.outcome import FleetEnded, HostEnded, RemoteExited, RemoteKilled
from remoterepl.settings import ConnectSettings, FleetSettings, Target


class Collect:
    """A sink that keeps what it is given."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.err: list[bytes] = []

    def write(self, data: bytes, *, stderr: bool) -> None:
        (self.err if stderr else self.out).append(data)


def test_hosts_file_comments_blank_lines(tmp_path: Path) -> None:
    """One destination per line; ``#`` comments (also after one) and blank lines skipped."""
    path = tmp_path / "hosts"
    path.write_text("# fleet\n\nweb1\n  root@db1:2222  # the db\n\n")
    assert read_hosts_file(str(path)) == ["web1", "root@db1:2222"]


def test_hosts_file_two_words_on_a_line(tmp_path: Path) -> None:
    """Two words on a line are a mistake, named with the line number."""
    path = tmp_path / "hosts"
    path.write_text("web1\nweb2 web3\n")
    with pytest.raises(UsageError, match="line 2: one destination per line"):
        read_hosts_file(str(path))


def test_choose_hosts_order_and_duplicates(tmp_path: Path) -> None:
    """--hosts first, then the files; a host named twice runs once."""
    path = tmp_path / "hosts"
    path.write_text("b\na\n")
    hosts = choose_hosts(FleetSettings(hosts=("a", "c"), hosts_files=(str(path),)))
    assert [h.label for h in hosts] == ["a", "c", "b"]


def test_host_target_fills_from_l_and_p() -> None:
    """-l/-p apply where the host's own destination leaves user or port open."""
    shared = ConnectSettings(Target("", "deploy", 2222))
    assert FleetHost("a", Target("a")).connect_settings(shared).target == Target(
        "a", "deploy", 2222
    )
    own = FleetHost("r", Target("r", "root", 22)).connect_settings(shared).target
    assert own == Target("r", "root", 22)


def test_labels_padded_and_marked() -> None:
    """Names padded to the longest; stdout ``: ``, stderr ``! ``."""
    labels = Labels(["a", "long"], colour=False)
    assert labels.line("a", b"x", stderr=False) == b"a   : x\n"
    assert labels.line("long", b"y", stderr=True) == b"long! y\n"
    coloured = Labels(["a"], colour=True).line("a", b"x", stderr=False)
    assert coloured.startswith(b"\x1b[") and coloured.endswith(b"\x1b[0m: x\n")


def test_line_joiner_keeps_partial_and_strips_controls() -> None:
    """Whole lines only; CR-LF and terminal controls but colours go; the empty line a
    readline prints for Enter is dropped once after a line was sent."""
    joiner = LineJoiner()
    assert joiner.feed(b"one\r\ntw") == [b"one"]
    assert joiner.partial == b"tw"
    assert joiner.feed(b"o\x1b[?2004l\x1b[31mred\x1b[0m\n") == [b"two\x1b[31mred\x1b[0m\x1b[0m"]
    joiner.feed(b">>> ")
    joiner.line_sent()
    assert joiner.partial == b""
    assert joiner.feed(b"\r\n\r\n4\r\n") == [b"", b"4"]


def test_prefixed_flushes_a_partial_line_when_quiet() -> None:
    """Piped, a line without its newline comes out labelled after a quiet moment, whole."""

    async def scenario() -> list[bytes]:
        sink = Collect()
        output = Prefixed(sink, Labels(["h"], colour=False))
        output.data("h", b"a\npar", stderr=False)
        output.data("h", b"tial", stderr=False)
        await asyncio.sleep(0.7)
        output.data("h", b"more\n", stderr=False)
        return sink.out

    assert asyncio.run(scenario()) == [b"h: a\n", b"h: partial\n", b"h: more\n"]


@pytest.mark.parametrize(
    ("labels", "folded"),
    [
        (["bar", "barroot"], "bar,barroot"),
        (["web1", "web2", "web3", "web5"], "web[1-3,5]"),
        (["h001", "h002", "db"], "h[001-002],db"),
        (["n1.example", "n2.example"], "n[1-2].example"),
        (["x9"], "x9"),
    ],
)
def test_fold(labels: list[str], folded: str) -> None:
    """clush's short form for a set of names."""
    assert fold(labels) == folded


def test_render_groups_identical_output_once() -> None:
    """Hosts with the same lines share one block; order of first appearance kept."""
    text = render_groups(
        ["a", "b", "c", "quiet"], {"a": [b"x"], "b": [b"y"], "c": [b"x"], "quiet": []}
    )
    sep = b"-" * 15
    assert text.split(b"\n") == [sep, b"a,c (2)", sep, b"x", sep, b"b (1)", sep, b"y", b""]


def test_gathered_piped_shows_at_the_end() -> None:
    """Piped --gather: nothing until close(); stderr labelled at once."""

    async def scenario() -> Collect:
        sink = Collect()
        out = Gathered(sink, Labels(["a", "b"], colour=False), ["a", "b"], progressive=False)
        out.data("a", b"4\n", stderr=False)
        out.data("b", b"4", stderr=False)
        out.data("b", b"oops\n", stderr=True)
        assert sink.out == [] and sink.err == [b"b! oops\n"]
        out.host_ended("b")
        out.close()
        return sink

    sink = asyncio.run(scenario())
    assert sink.out == [b"-" * 15 + b"\na,b (2)\n" + b"-" * 15 + b"\n4\n"]


def test_out_dir_file_names(tmp_path: Path) -> None:
    """A label becomes a file name: no directory separators, no hidden files; both files
    exist for a host that started, even empty."""
    assert file_name("root@h/x") == "root@h_x"
    assert file_name(".hidden") == "_hidden"
    out = OutDir(str(tmp_path / "o"), ["h"])
    out.host_started("h")
    out.data("h", b"bytes", stderr=False)
    out.close()
    assert (tmp_path / "o" / "h.out").read_bytes() == b"bytes"
    assert (tmp_path / "o" / "h.err").read_bytes() == b""


def test_status_table() -> None:
    """Only the hosts that did not exit 0, under a count; none when all did."""
    assert status_table([("a", 0, "exited with status 0")]) == []
    lines = status_table([("a", 0, "ok"), ("bb", 3, "exited with status 3")])
    assert lines == [
        "1 of 2 hosts did not exit 0:",
        "  HOST  STATUS  HOW",
        "  bb         3  exited with status 3",
    ]


def test_fleet_exit_status_is_the_largest() -> None:
    """The largest per-host status; 255 for a host that never ended; 0 when all did."""
    ok = HostEnded("a", RemoteExited(0))
    three = HostEnded("b", RemoteExited(3))
    killed = HostEnded("c", RemoteKilled("TERM"))
    failed = HostEnded("d", None, "refused")
    assert exit_status(FleetEnded((ok,))) == 0
    assert exit_status(FleetEnded((ok, three))) == 3
    assert exit_status(FleetEnded((three, killed))) == 143
    assert exit_status(FleetEnded((killed, failed))) == 255


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["--hosts", "a,b", "bc", "-l"], "bc -l"),
        (["--hosts", "a", "-p", "2222", "sh", "-c", "x"], "sh -c x"),
        (["--hosts", "a", "--", "-x"], "-x"),
        (["--hosts", "a"], None),
        (["--inventory", "i.ini", "--limit", "web", "uptime"], "uptime"),
    ],
)
def test_every_word_is_command_with_many_hosts(argv: list[str], command: str | None) -> None:
    """With --hosts/--hosts-file/--inventory there is no DESTINATION: the first word that
    is not an option starts COMMAND, and options after it are the command's."""
    settings = parse_args(argv)
    assert settings.fleet is not None
    assert settings.session.command == command


def test_one_destination_still_needed_without_many_hosts() -> None:
    """Without the many-hosts options DESTINATION stays required."""
    with pytest.raises(UsageError, match="required: DESTINATION"):
        parse_args([])


def test_clean_lines_keep_only_colours() -> None:
    """No control survives a labelled line but SGR, which is reset at the line's end; a
    line overwritten with CR keeps its last state; C1 controls go too."""
    assert clean(b"a\x1b\x02]52;c;aGk=\x07b") == b"a]52;c;aGk=b"
    assert clean(b"x\rbar2: fake") == b"bar2: fake"
    assert clean(b"\x1b[31mred") == b"\x1b[31mred\x1b[0m"
    assert clean(b"tab\there\xc2\x9b2J") == b"tab\there2J"
    assert clean("é ü".encode()) == "é ü".encode()


def test_long_partial_line_is_bounded() -> None:
    """10 MiB without a newline come out as lines of at most MAX_LINE bytes."""
    joiner = LineJoiner()
    lines = [line for _ in range(160) for line in joiner.feed(b"x" * 65536)]
    assert all(len(line) <= MAX_LINE for line in lines)
    assert sum(map(len, lines)) + len(joiner.partial) == 160 * 65536


def test_out_dir_refuses_colliding_names(tmp_path: Path) -> None:
    """Two hosts whose file names would be the same: refused, both named."""
    with pytest.raises(UsageError, match="'a/b' and 'a_b' would write the same files"):
        OutDir(str(tmp_path / "o"), ["a/b", "a_b"])
