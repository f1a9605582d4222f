"""Which hosts a fleet run reaches: --hosts, --hosts-file and --inventory/--limit, each turned
into a :class:`FleetHost` (the name its output is labelled with and where to connect)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from remoterepl.display import shown
from remoterepl.errors import UsageError
from remoterepl.settings import (
    ConnectSettings,
    FleetSettings,
    Target,
    host_problem,
    parse_target,
    user_problem,
)


@dataclass(frozen=True)
class FleetHost:
    """One host of the fleet: ``label`` names it in the output, ``target`` is where to go
    (ssh_config applies to ``target.host`` as to a DESTINATION)."""

    label: str
    target: Target

    def connect_settings(self, shared: ConnectSettings) -> ConnectSettings:
        """The fleet's shared settings aimed at this host: -l/-p fill what the host's own
        destination (or inventory entry) leaves open."""
        template = shared.target
        target = Target(
            self.target.host,
            self.target.user if self.target.user is not None else template.user,
            self.target.port if self.target.port is not None else template.port,
        )
        return replace(shared, target=target)


def read_hosts_file(path: str) -> list[str]:
    """Destinations from ``path``: one per line; blank lines and ``#`` comments skipped
    (also after a destination, as in pssh's host files)."""
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"--hosts-file {shown(path)}: {reason}") from None
    found = []
    for number, line in enumerate(lines, start=1):
        words = line.partition("#")[0].split()
        if len(words) > 1:
            raise UsageError(
                f"--hosts-file {shown(path)} line {number}: one destination per line, "
                f"not '{shown(line.strip())}'"
            )
        found.extend(words)
    return found


def _from_destinations(destinations: list[str], where: str) -> list[FleetHost]:
    hosts = []
    for destination in destinations:
        try:
            hosts.append(FleetHost(destination, parse_target(destination)))
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None
    return hosts


def _from_inventory(path: str, limit: str | None) -> list[FleetHost]:
    """Inventory hosts, each reached at its ansible_host/port/user, taken as they are (a
    name is never parsed as ``user@host:port``), checked as OpenSSH checks names."""
    from remoterepl.fanout.inventory import load_inventory

    hosts = []
    for entry in load_inventory(path).select(limit):
        address = entry.address if entry.address is not None else entry.name
        problem = host_problem(address) or (
            user_problem(entry.user) if entry.user is not None else None
        )
        if problem is not None:
            raise UsageError(f"--inventory {shown(path)}: host {shown(entry.name)}: {problem}")
        hosts.append(FleetHost(entry.name, Target(address, entry.user, entry.port)))
    return hosts


def choose_hosts(fleet: FleetSettings) -> list[FleetHost]:
    """Every host the options name, in the order given, each once (the first label wins);
    UsageError for a bad file or destination, or when no host is left."""
    chosen = _from_destinations(list(fleet.hosts), "--hosts")
    for path in fleet.hosts_files:
        chosen += _from_destinations(read_hosts_file(path), f"--hosts-file {shown(path)}")
    if fleet.inventory is not None:
        chosen += _from_inventory(fleet.inventory, fleet.limit)
    unique: dict[str, FleetHost] = {}
    for host in chosen:
        unique.setdefault(host.label, host)
    if not unique:
        raise UsageError("no hosts to run on: the host files name none")
    return list(unique.values())
