"""The forwarding specification parser (remoterepl/forwards.py) against ssh's forms
(ssh(1) -L/-R/-D, readconf.c parse_forward), the ssh_config lines, where listeners bind
(GatewayPorts), and the command line's refusals (one line, exit status 2, no connection)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from remoterepl.cli import main, parse_args
from remoterepl.errors import UsageError
from remoterepl.forwards import (
    Endpoint,
    Forward,
    Kind,
    bind_host,
    merge,
    parse_config_forward,
    parse_forward,
    remote_bind_host,
)

L, R, D = Kind.LOCAL, Kind.REMOTE, Kind.DYNAMIC


@pytest.mark.parametrize(
    ("kind", "spec", "listen", "target"),
    [
        (L, "8080:localhost:80", Endpoint(None, 8080), Endpoint("localhost", 80)),
        (L, "127.0.0.1:8080:db:5432", Endpoint("127.0.0.1", 8080), Endpoint("db", 5432)),
        (L, "[::1]:8080:[::1]:80", Endpoint("::1", 8080), Endpoint("::1", 80)),
        (L, "[fe80::1%eth0]:1:h:2", Endpoint("fe80::1%eth0", 1), Endpoint("h", 2)),
        (L, "*:8080:h:80", Endpoint("*", 8080), Endpoint("h", 80)),
        (L, ":8080:h:80", Endpoint("", 8080), Endpoint("h", 80)),
        (L, "8080:/run/pg.sock", Endpoint(None, 8080), Endpoint(path="/run/pg.sock")),
        (L, "0.0.0.0:8080:/run/x", Endpoint("0.0.0.0", 8080), Endpoint(path="/run/x")),
        (L, "/tmp/l.sock:h:80", Endpoint(path="/tmp/l.sock"), Endpoint("h", 80)),
        (L, "/tmp/a:/tmp/b", Endpoint(path="/tmp/a"), Endpoint(path="/tmp/b")),
        (L, "[/tmp/a:b]:h:80", Endpoint(path="/tmp/a:b"), Endpoint("h", 80)),  # [] literal
        (L, "/tmp/a\\:b:h:80", Endpoint(path="/tmp/a:b"), Endpoint("h", 80)),  # \\ escapes
        (L, " 8080:h:80", Endpoint(None, 8080), Endpoint("h", 80)),  # leading blanks
        (R, "8080:localhost:80", Endpoint(None, 8080), Endpoint("localhost", 80)),
        (R, "0:localhost:80", Endpoint(None, 0), Endpoint("localhost", 80)),  # server picks
        (R, "*:2222:h:22", Endpoint("*", 2222), Endpoint("h", 22)),
        (R, "8080:/tmp/local.sock", Endpoint(None, 8080), Endpoint(path="/tmp/local.sock")),
        (R, "/tmp/r.sock:h:80", Endpoint(path="/tmp/r.sock"), Endpoint("h", 80)),
        (R, "/tmp/r:/tmp/l", Endpoint(path="/tmp/r"), Endpoint(path="/tmp/l")),
        (D, "1080", Endpoint(None, 1080), None),
        (D, "127.0.0.1:1080", Endpoint("127.0.0.1", 1080), None),
        (D, "[::1]:1080", Endpoint("::1", 1080), None),
        (D, "*:1080", Endpoint("*", 1080), None),
    ],
)
def test_good_forms(kind: Kind, spec: str, listen: Endpoint, target: Endpoint | None) -> None:
    forward = parse_forward(kind, spec)
    assert (forward.kind, forward.listen, forward.target, forward.spec) == (
        kind,
        listen,
        target,
        spec,
    )


@pytest.mark.parametrize(
    ("kind", "spec"),
    [
        (L, ""),
        (L, "8080"),  # no target
        (L, "8080:h"),  # no target port
        (L, "0:h:80"),  # only the server may choose a port
        (L, "x:h:80"),
        (L, "65536:h:80"),
        (L, "-1:h:80"),
        (L, "8080:h:0"),
        (L, "8080:h:no-such-service"),  # not in /etc/services
        (L, "8080::80"),  # empty target host
        (L, "1:2:3:4:5"),  # too many fields
        (L, "[::1:8080:h:80"),  # unclosed bracket
        (L, "[::1]x:8080:h:80"),  # garbage after the bracket
        (L, "/tmp/a\\"),  # a trailing backslash
        (R, "8080:h"),
        (D, "a:b:c"),
        (D, "h:1080:x"),
        (D, "0"),
        (D, "99999"),
    ],
)
def test_bad_forms(kind: Kind, spec: str) -> None:
    with pytest.raises(UsageError, match=f"^Bad {kind.value} forwarding specification"):
        parse_forward(kind, spec)


def test_unsupported_forms_are_refused_by_name() -> None:
    """-R PORT (a SOCKS proxy on the server) and -D on a socket: asyncssh has neither."""
    with pytest.raises(UsageError, match=r"remote dynamic forwarding .* not supported"):
        parse_forward(R, "1080")
    with pytest.raises(UsageError, match="remote dynamic forwarding"):
        parse_forward(R, "127.0.0.1:1080")
    with pytest.raises(UsageError, match="SOCKS on a Unix socket is not supported"):
        parse_forward(D, "/tmp/socks")


def test_messages_name_the_forward_as_written() -> None:
    assert str(parse_forward(L, "[::1]:8080:h:80")) == "-L [::1]:8080:h:80"
    line = parse_config_forward(L, ["8080", "h:80"])
    assert str(line) == "LocalForward 8080 h:80"
    assert str(Endpoint("::1", 80)) == "[::1]:80"
    assert str(Endpoint(None, 80)) == "80"
    assert str(Endpoint(path="/tmp/s")) == "/tmp/s"


def test_config_lines() -> None:
    """LISTEN TARGET joined with ':' as readconf.c does; DynamicForward takes LISTEN."""
    forward = parse_config_forward(L, ["[::1]:5432", "db:5432"])
    assert (forward.listen, forward.target) == (Endpoint("::1", 5432), Endpoint("db", 5432))
    forward = parse_config_forward(R, ["2222", "/tmp/s"])
    assert (forward.listen, forward.target) == (Endpoint(None, 2222), Endpoint(path="/tmp/s"))
    assert parse_config_forward(D, ["1080"]).listen == Endpoint(None, 1080)
    for kind, words in ((L, ["8080"]), (L, []), (D, ["1080", "x"]), (L, ["1", "h:2", "x"])):
        with pytest.raises(UsageError):
            parse_config_forward(kind, words)


def test_bind_addresses_follow_gateway_ports() -> None:
    """ssh's channel_fwd_bind_addr() for the client: no address -> loopback unless
    GatewayPorts; '*' or '' -> every address; an explicit one is used as given."""
    assert bind_host(Endpoint(None, 1), gateway_ports=False) == "localhost"
    assert bind_host(Endpoint(None, 1), gateway_ports=True) == ""
    for host in ("*", ""):
        assert bind_host(Endpoint(host, 1), gateway_ports=False) == ""
    assert bind_host(Endpoint("127.0.0.1", 1), gateway_ports=True) == "127.0.0.1"
    assert bind_host(Endpoint("192.0.2.1", 1), gateway_ports=False) == "192.0.2.1"
    assert remote_bind_host(Endpoint(None, 1)) == "localhost"
    assert remote_bind_host(Endpoint("*", 1)) == ""
    assert remote_bind_host(Endpoint("::1", 1)) == "::1"


def test_merge_drops_repeats() -> None:
    first = (parse_forward(L, "8080:h:80"),)
    again = parse_config_forward(L, ["8080", "h:80"])
    other = parse_config_forward(L, ["8081", "h:80"])
    merged = merge(first, [again, other])
    assert merged == (first[0], other)
    assert isinstance(merged[0], Forward)


def test_command_line_collects_every_forward() -> None:
    settings = parse_args(
        ["-L", "1:h:2", "-R", "3:h:4", "-D", "5", "-L", "[::1]:6:h:7", "-N", "-f", "host"]
    )
    connect = settings.connect
    assert [str(f) for f in connect.forwards] == [
        "-L 1:h:2",
        "-L [::1]:6:h:7",
        "-R 3:h:4",
        "-D 5",
    ]
    assert (connect.no_command, connect.fork_after_auth) == (True, True)
    assert parse_args(["-fN", "host"]).connect.fork_after_auth  # bundled as ssh's
    assert parse_args(["-o", "ForkAfterAuthentication=yes", "h", "cmd"]).connect.fork_after_auth


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-L", "8080", "h"], "Bad local forwarding specification '8080'"),
        (["-D", "x", "h"], "Bad dynamic forwarding specification 'x'"),
        (["-R", "1080", "h"], "remote dynamic forwarding"),
        (["-N", "h", "ls"], "-N runs no remote command"),
        (["-N", "--raw", "h"], "-N runs no remote command: not with --raw"),
        (["-o", "LocalForward=8080", "h"], "missing target argument"),
        (["-o", "DynamicForward=1080 x", "h"], "DynamicForward"),
        (["-o", "SessionType=shell", "h"], "must be none, subsystem or default"),
    ],
)
def test_bad_command_lines_stop_with_one_line_and_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before anything is connected (the host 'h' is never looked up)."""
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err.splitlines()[0], err
    assert len(err.splitlines()) == 2  # the error, then the usage hint


def test_dash_g_prints_the_forwards_as_ssh_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-G: the command line's forwards, then the host's lines (readconf.c's format), and
    -N as sessiontype none; another host's lines are not there."""
    config = tmp_path / "config"
    config.write_text(
        "Host x\n  HostName 127.0.0.1\n  LocalForward 8080 h:80\n  DynamicForward 1080\n"
        "  RemoteForward /tmp/r.sock /tmp/l.sock\nHost y\n  LocalForward 9 h:9\n"
    )
    assert main(["-F", str(config), "-G", "-N", "-L", "[::1]:7:db:5432", "x"]) == 0
    lines = capsys.readouterr().out.splitlines()
    forwards = [line for line in lines if "forward " in line or line.startswith("session")]
    assert forwards == [
        "dynamicforward 1080",
        "localforward [::1]:7 [db]:5432",
        "localforward 8080 [h]:80",
        "remoteforward /tmp/r.sock /tmp/l.sock",
        "sessiontype none",
    ]


def test_g_is_gateway_ports_yes() -> None:
    """ssh's -g: GatewayPorts yes, ahead of any -o (the first value wins)."""
    options = parse_args(["-g", "-o", "GatewayPorts=no", "host"]).connect.options
    assert [v for k, v in options if k == "GatewayPorts"] == ["yes", "no"]
    assert ("GatewayPorts", "yes") not in parse_args(["host"]).connect.options


def test_quoted_words_and_o_values_are_read_as_ssh_reads_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A quoted socket path with a space is one word; ``-o 'LocalForward=8081 h:81'`` is a
    port and a target, and ``-o 'SendEnv=LC_A LC_B'`` two patterns (ssh reads -o as a line)."""
    config = tmp_path / "config"
    config.write_text('Host x\n  LocalForward "/tmp/my sock" localhost:80\n')
    argv = ["-F", str(config), "-G", "-o", "LocalForward=8081 h:81", "-o", "SendEnv=LC_A LC_B"]
    assert main([*argv, "x"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("localforward ")] == [
        "localforward 8081 [h]:81",
        "localforward /tmp/my sock [localhost]:80",
    ]
    assert [line for line in lines if line.startswith("sendenv ")] == [
        "sendenv LC_A",
        "sendenv LC_B",
    ]


def test_service_names_are_ports_as_in_ssh() -> None:
    """``-L 8080:web:http``: OpenSSH's a2port() looks a name up in /etc/services."""
    try:
        http = socket.getservbyname("http", "tcp")
    except OSError:
        pytest.skip("no /etc/services here (Debian's netbase)")
    forward = parse_forward(L, "8080:web:http")
    assert forward.target == Endpoint("web", http) and forward.listen == Endpoint(None, 8080)


@pytest.mark.parametrize(
    "options", [["-f"], ["-o", "ForkAfterAuthentication=yes"], ["-fN"]], ids=["f", "o", "fN"]
)
def test_dash_g_prints_fork_after_authentication(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str]
) -> None:
    """-G -f and -G -o ForkAfterAuthentication=yes agree: ``forkafterauthentication yes``
    (ssh -G prints it); without either, ``no``."""
    config = tmp_path / "config"
    config.write_text("Host x\n  HostName 127.0.0.1\n")
    assert main(["-F", str(config), "-G", *options, "x", *([] if "-fN" in options else ["c"])]) == 0
    assert "forkafterauthentication yes" in capsys.readouterr().out.splitlines()
    assert main(["-F", str(config), "-G", "x"]) == 0
    assert "forkafterauthentication yes" not in capsys.readouterr().out.splitlines()


def test_dash_g_prints_the_stream_local_bind_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """StreamLocalBindMask/Unlink: ssh -G's defaults (0177, no), or the values given; a
    mask that is not octal is refused before anything is connected (2)."""
    config = tmp_path / "config"
    config.write_text("Host x\n  HostName 127.0.0.1\n  StreamLocalBindUnlink yes\n")
    assert main(["-F", str(config), "-G", "x"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "streamlocalbindmask 0177" in lines and "streamlocalbindunlink yes" in lines
    assert main(["-F", str(config), "-G", "-o", "StreamLocalBindMask=0117", "x"]) == 0
    assert "streamlocalbindmask 0117" in capsys.readouterr().out.splitlines()
    assert main(["-F", str(config), "-G", "-o", "StreamLocalBindMask=9", "x"]) == 2
    assert "bad StreamLocalBindMask '9'" in capsys.readouterr().err


async def test_loopback_only_binds_without_needing_a_localhost_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ssh binds loopback without resolving a name; remoterepl binds ``localhost`` only
    where it names loopback addresses alone, else 127.0.0.1 (a new root may have no
    /etc/hosts: ``localhost`` then does not resolve)."""
    import asyncio

    from remoterepl.ssh import forwarding

    loop = asyncio.get_running_loop()
    real = await forwarding._loopback_name()
    assert real in ("localhost", "127.0.0.1")

    async def unresolvable(*_args: object, **_kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def elsewhere(*_args: object, **_kwargs: object) -> list[object]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.7", 0))]

    for fake in (unresolvable, elsewhere):
        monkeypatch.setattr(loop, "getaddrinfo", fake)
        assert await forwarding._loopback_name() == "127.0.0.1"
