"""Jump-host routes: which hosts to connect through, each with its own ssh_config.

``ssh -J A,B D`` reaches D through B, and B through A; OpenSSH implements it as
``ssh -J A B -W D:port``, so a hop's settings come from ssh_config alone (command-line
``-o``/``-i`` apply to the destination), the first hop's own ProxyJump is honoured, and an
explicit list overrides the ProxyJump of the hops in it. :func:`plan_route` follows exactly
that rule (blocking: it reads config files).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from remoterepl.display import shown
from remoterepl.errors import UsageError
from remoterepl.settings import Target, host_problem, parse_jump_spec
from remoterepl.ssh.config import ConfigFiles
from remoterepl.ssh.host_config import HostConfig, load_host_config

MAX_HOPS = 16


@dataclass(frozen=True)
class Route:
    """How to reach one host: its config, and the route to the hop before it (if any)."""

    host: HostConfig
    via: Route | None = None
    proxy_command: str | None = None  # reached through this ProxyCommand instead
    is_hop: bool = False  # a jump host (error messages name it as such)

    def hops(self) -> Iterator[Route]:
        """Every route from the first hop to this host, in connection order."""
        if self.via is not None:
            yield from self.via.hops()
        yield self


def _describe(target: Target) -> str:
    """``[user@]host[:port]`` again, in a form :func:`parse_jump_spec` reads back."""
    host = f"[{target.host}]" if ":" in target.host else target.host
    text = f"{target.user}@{host}" if target.user else host
    return f"{text}:{target.port}" if target.port else text


def plan_route(destination: Target, files: ConfigFiles) -> Route:
    """The destination's route through its jump hosts (-J, or ProxyJump from ssh_config)."""
    return _plan(destination, files.for_destination(destination.host), None, files, [], hop=False)


def _plan(
    target: Target,
    paths: list[str],
    jump_override: str | None,
    files: ConfigFiles,
    trail: list[tuple[str, str | None, bool]],
    *,
    hop: bool,
) -> Route:
    host = load_host_config(target, paths, files)
    problem = host_problem(host.host) if host.host != target.host else None
    if problem is not None:  # HostName from ssh_config: as strict as the command line
        raise UsageError(f"bad HostName '{shown(host.host)}' for {shown(target.host)}: {problem}")
    name = _describe(target)
    # The same host reached the same way again can only recurse forever.
    step = (name, jump_override, hop)
    if step in trail or len(trail) >= MAX_HOPS:
        chain = " -> ".join([*(t[0] for t in trail), name])
        raise UsageError(
            f"ProxyJump loop: {shown(chain)} "
            "(end it with 'ProxyJump none' in the jump host's Host block)"
        )
    jump, command = (jump_override, None) if jump_override else host.proxy()
    if not jump:
        return Route(host, None, command, is_hop=hop)
    hops = parse_jump_spec(jump)
    last, earlier = hops[-1], hops[:-1]
    override = ",".join(_describe(t) for t in earlier) or None
    via = _plan(last, files.for_hop(last.host), override, files, [*trail, step], hop=True)
    return Route(host, via, None, is_hop=hop)
