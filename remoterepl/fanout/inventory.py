"""Ansible inventory files, INI or YAML, read as Ansible's ini and yaml inventory plugins
read them (groups, ``:children``, ``:vars``, host ranges, ``host:port``), each host's
``ansible_host`` / ``ansible_port`` / ``ansible_user`` resolved with Ansible's precedence,
and hosts chosen with an Ansible ``--limit`` pattern (host_patterns). Pure but for reading
the file. Stricter than Ansible, which fails only on connecting: a port not in 1-65535,
a host or user that is not text. Not read: group_vars/ and host_vars/ directories,
inventory scripts, plugin configurations (``plugin:``) and directories of inventories."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from remoterepl.display import shown
from remoterepl.errors import UsageError
from remoterepl.fanout.host_patterns import (
    evaluate,
    expand_range,
    ini_value,
    split_host_line,
    split_host_port,
    split_limit,
)

#: Extensions Ansible's yaml plugin takes (JSON is YAML); other files are INI, and a file
#: without one is YAML when it loads as a YAML mapping (Ansible tries yaml, then ini).
YAML_EXTENSIONS = (".yml", ".yaml", ".json")
#: Each setting and its names, the later name winning when both are set: Ansible's ssh
#: connection plugin lists ``ansible_host`` then ``ansible_ssh_host`` and takes the last set.
_SETTINGS = {
    "address": ("ansible_host", "ansible_ssh_host"),
    "port": ("ansible_port", "ansible_ssh_port"),
    "user": ("ansible_user", "ansible_ssh_user"),
}

Var = tuple[Any, str]  # a variable's value and where it was set ("inv.ini line 4"), for errors


@dataclass(frozen=True)
class InventoryHost:
    """One inventory host: the name its output is labelled with, and how to reach it."""

    name: str  # the inventory host name: what the output labels show
    address: str | None  # ansible_host (or ansible_ssh_host); None: connect to `name`
    port: int | None  # ansible_port (or ansible_ssh_port)
    user: str | None  # ansible_user (or ansible_ssh_user)


@dataclass
class Inventory:
    """The hosts of an inventory file, in file order, and every group's hosts."""

    path: str
    hosts: dict[str, InventoryHost]  # in file order (first appearance)
    groups: dict[str, list[str]]  # group -> host names incl. children's; 'all', 'ungrouped'
    warnings: list[str] = field(default_factory=list)  # what Ansible would warn of, reading

    def select(self, limit: str | None) -> list[InventoryHost]:
        """The hosts ``limit`` (an Ansible ``--limit`` pattern; None: all) selects, in file
        order (Ansible's order walks groups through sets). A sub-pattern that matches nothing
        is ignored, as Ansible does (see :meth:`unmatched`); UsageError when nothing at all
        is selected (Ansible would warn and run on no host)."""
        if limit is None and not self.hosts:
            raise UsageError(f"{shown(self.path)} has no hosts")
        if limit is None:
            return list(self.hosts.values())
        names = evaluate(split_limit(limit), list(self.hosts), self.groups)[0]
        chosen = [host for name, host in self.hosts.items() if name in names]
        if not chosen:
            raise UsageError(f"--limit {shown(limit)} matches no host in {shown(self.path)}")
        return chosen

    def unmatched(self, limit: str) -> list[str]:
        """The sub-patterns of ``limit`` that match no host (Ansible warns of each)."""
        return evaluate(split_limit(limit), list(self.hosts), self.groups)[1]


class Builder:
    """An inventory as the parsers declare it; :meth:`finish` resolves it as Ansible's
    InventoryData.reconcile_inventory and VariableManager do."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.source = shown(path)
        self.host_vars: dict[str, dict[str, Var]] = {}  # also the hosts, in file order
        self.members: dict[str, dict[str, None]] = {"all": {}, "ungrouped": {}}  # direct
        self.children: dict[str, dict[str, None]] = {"all": {}, "ungrouped": {}}
        self.group_vars: dict[str, dict[str, Var]] = {"all": {}, "ungrouped": {}}
        self.priority: dict[str, int] = {}
        self.warnings: list[str] = []

    def add_group(self, name: str) -> None:
        """Declare a group (again: nothing changes)."""
        self.members.setdefault(name, {})
        self.children.setdefault(name, {})
        self.group_vars.setdefault(name, {})

    def add_hosts(self, entry: str, group: str, variables: dict[str, Var], where: str) -> None:
        """Add the hosts of an entry (``web[1:3]:2222``) to ``group``, with their vars."""
        pattern, port = split_host_port(entry)
        try:
            names = expand_range(pattern)
        except ValueError as exc:
            raise UsageError(f"{where}: {shown(pattern)}: {exc}") from None
        for name in names:
            if not name:
                raise UsageError(f"{where}: an empty host name")
            if name not in self.host_vars:  # as Ansible, only a new host takes the :port
                self.host_vars[name] = {} if port is None else {"ansible_port": (port, where)}
            self.add_group(group)
            self.members[group][name] = None
            self.host_vars[name].update(variables)

    def set_group_var(self, group: str, key: str, value: Any, where: str) -> None:
        """Set a group variable (``ansible_group_priority`` orders groups instead)."""
        self.add_group(group)
        if key == "ansible_group_priority":
            try:
                self.priority[group] = int(value)
            except (TypeError, ValueError):
                raise UsageError(
                    f"{where}: ansible_group_priority {shown(str(value))} is not a number"
                ) from None
        else:
            self.group_vars[group][key] = (value, where)

    def add_child(self, parent: str, child: str, where: str) -> None:
        """Make ``child`` a child group of ``parent``; UsageError for a loop (as Ansible)."""
        self.add_group(parent)
        self.add_group(child)
        if child == "all" or child == parent or parent in _reach(child, self.children):
            raise UsageError(
                f"{where}: group {shown(child)} as a child of {shown(parent)} makes a loop"
            )
        self.children[parent][child] = None

    def finish(self) -> Inventory:
        """The inventory: top groups under 'all', 'ungrouped' as Ansible fills it, each
        host's settings from its variables by Ansible's precedence."""
        parents: dict[str, list[str]] = {name: [] for name in self.children}
        for parent, kids in self.children.items():
            for kid in kids:
                parents[kid].append(parent)
        for name, its_parents in parents.items():
            if name != "all" and not its_parents:
                self.children["all"][name] = None
                its_parents.append("all")
        groups_of: dict[str, set[str]] = {name: set() for name in self.host_vars}
        for group, members in self.members.items():
            for name in members:
                groups_of[name].add(group)
        for name, direct in groups_of.items():
            # Ansible: 'ungrouped' holds exactly the hosts in no group but 'all'.
            if direct <= {"all", "ungrouped"}:
                self.members["ungrouped"][name] = None
                direct.add("ungrouped")
            elif "ungrouped" in direct:
                del self.members["ungrouped"][name]
                direct.discard("ungrouped")
        depth: dict[str, int] = {"all": 0}

        def depth_of(group: str) -> int:
            """Ansible's group depth: the longest path down from 'all'."""
            if group not in depth:
                depth[group] = 1 + max(depth_of(parent) for parent in parents[group])
            return depth[group]

        ancestors = {group: _reach(group, parents) for group in self.children}
        groups: dict[str, list[str]] = {group: [] for group in self.children}
        hosts: dict[str, InventoryHost] = {}
        for name, direct in groups_of.items():
            above = set(direct).union(*(ancestors[g] for g in direct))
            merged: dict[str, Var] = {}
            # Ansible: group vars merged by (depth, priority, name), later wins; then host vars.
            for group in sorted(above, key=lambda g: (depth_of(g), self.priority.get(g, 1), g)):
                groups[group].append(name)
                merged.update(self.group_vars[group])
            hosts[name] = self._host(name, {**merged, **self.host_vars[name]})
        self.warnings.extend(
            f"{self.source}: {shown(name)} is both a host and a group"
            for name in groups
            if name in hosts
        )
        return Inventory(self.path, hosts, groups, self.warnings)

    @staticmethod
    def _host(name: str, merged: dict[str, Var]) -> InventoryHost:
        """A host's settings from its merged variables (a None value counts as unset)."""
        settings: dict[str, Any] = {}
        for setting, keys in _SETTINGS.items():
            found = [(key, merged[key]) for key in keys if merged.get(key, (None,))[0] is not None]
            if not found:
                settings[setting] = None
                continue
            key, (value, where) = found[-1]
            text = str(value).strip()
            bad = isinstance(value, bool) or not isinstance(value, (str, int, float))
            if setting == "port":
                bad = bad or not text.isdigit() or not 1 <= int(text) <= 65535
                settings[setting] = None if bad else int(text)
            else:
                settings[setting] = str(value) or None  # empty: as unset (ssh's default)
            if bad:
                wanted = "a port number (1 to 65535)" if setting == "port" else "text"
                raise UsageError(
                    f"{where}: host {shown(name)}: {key} {shown(repr(value))} is not {wanted}"
                )
        return InventoryHost(name, **settings)


def _reach(start: str, edges: Mapping[str, Iterable[str]]) -> set[str]:
    """The groups reached from ``start`` along ``edges`` (children, or parents)."""
    found: set[str] = set()
    todo = list(edges[start])
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(edges[name])
    return found


def load_inventory(path: str) -> Inventory:
    """The inventory in file ``path``: YAML for .yml/.yaml/.json, INI for any other
    extension, and for none YAML when the file loads as a YAML mapping, else INI (Ansible
    tries its yaml plugin, then ini). UsageError, one line naming the file (and for INI the
    line), for a file that cannot be read or is not a valid inventory."""
    source = shown(path)
    if os.path.isdir(path):
        raise UsageError(f"{source} is a directory, not an inventory file")
    try:
        with open(path, "rb") as file:
            data = file.read()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise UsageError(
            f"{source}: cannot read it: {getattr(exc, 'strerror', 0) or exc}"
        ) from None
    builder = Builder(path)
    extension = os.path.splitext(path)[1].lower()
    try:
        if extension in YAML_EXTENSIONS:
            _parse_yaml(builder, _load_yaml(source, _decode(source, data)))
        elif extension:
            _parse_ini(builder, data)
        else:
            try:
                document = _load_yaml(source, _decode(source, data))
            except UsageError:
                document = None
            if isinstance(document, dict):
                _parse_yaml(builder, document)
            else:
                _parse_ini(builder, data)
        return builder.finish()
    except RecursionError:  # a YAML alias that contains itself, or groups nested absurdly deep
        raise UsageError(f"{source}: groups nest too deep (a YAML alias in itself?)") from None


def _decode(source: str, data: bytes) -> str:
    """The file's text: UTF-8 (a byte-order mark ignored), as Ansible requires."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError(f"{source} line {line}: not UTF-8 text") from None


# -- INI (Ansible's plugins/inventory/ini.py) --

_SECTION = re.compile(r"\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?")
_GROUP_NAME = re.compile(r"([^:\]\s]+)\s*(?:#.*)?")
_VALUE_COMMENT = re.compile(r"\s+#.*")


def _parse_ini(builder: Builder, data: bytes) -> None:
    """Declare the groups, hosts and variables of an INI inventory."""
    group, kind = "ungrouped", "hosts"  # as Ansible: lines before any section are ungrouped
    declared = {"all", "ungrouped"}
    referenced: dict[str, str] = {}  # group named by :vars or :children -> where, first
    for number, raw in enumerate(data.splitlines(), 1):
        where = f"{builder.source} line {number}"
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
        except UnicodeDecodeError:
            if raw.strip()[:1] in (b"#", b";"):  # Ansible allows other encodings in comments
                continue
            raise UsageError(f"{where}: not UTF-8 text") from None
        if not line or line[0] in "#;":
            continue
        section = _SECTION.fullmatch(line)
        if section:
            group, kind = section[1], section[2] or "hosts"
            if kind not in ("hosts", "children", "vars"):
                raise UsageError(
                    f"{where}: unknown section kind :{shown(kind)} (not :children, :vars)"
                )
            builder.add_group(group)
            if kind == "vars":
                referenced.setdefault(group, where)
            else:
                declared.add(group)
        elif line.startswith("[") and line.endswith("]"):
            raise UsageError(f"{where}: bad section header {shown(line)} (no spaces inside)")
        elif kind == "hosts":
            try:
                entry, values = split_host_line(line)
            except ValueError as exc:
                raise UsageError(f"{where}: {exc}") from None
            builder.add_hosts(entry, group, {k: (v, where) for k, v in values.items()}, where)
        elif kind == "vars":
            key, equals, value = line.partition("=")
            if not equals:
                raise UsageError(f"{where}: expected key=value, got {shown(line)}")
            value = _VALUE_COMMENT.sub("", value.strip())  # Ansible would keep "x # note"
            builder.set_group_var(group, key.strip(), ini_value(value), where)
        else:
            child = _GROUP_NAME.fullmatch(line)
            if not child:
                raise UsageError(f"{where}: expected a group name, got {shown(line)}")
            referenced.setdefault(child[1], where)
            builder.add_child(group, child[1], where)
    for name, where in referenced.items():
        if name not in declared:  # as Ansible: [x:vars] or a child needs a [x] somewhere
            raise UsageError(f"{where}: group {shown(name)} has no [{shown(name)}] section")


# -- YAML (Ansible's plugins/inventory/yaml.py) --


def _load_yaml(source: str, text: str) -> Any:
    """The YAML document, PyYAML's safe loader (imported only for a YAML inventory)."""
    import yaml  # type: ignore[import-untyped]

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{source}{at}: not valid YAML: {problem}") from None


def _parse_yaml(builder: Builder, document: Any) -> None:
    """Declare the groups, hosts and variables of a YAML inventory."""
    source = builder.source
    if document is None:
        return  # an empty file: no hosts (Ansible's ini plugin takes it, after yaml refuses)
    if not isinstance(document, dict):
        raise UsageError(f"{source}: a YAML inventory is a mapping of groups (all: ...)")
    if "plugin" in document:
        raise UsageError(f"{source}: an inventory plugin's configuration, not an inventory")
    for name, data in document.items():
        _yaml_group(builder, name, data)


def _yaml_group(builder: Builder, name: Any, data: Any) -> str:
    """Declare one group of a YAML inventory, its children first; return its name."""
    source = builder.source
    if not isinstance(name, str) or not name:
        raise UsageError(f"{source}: group name {shown(repr(name))} is not text")
    if data is not None and not isinstance(data, dict):
        builder.warnings.append(f"{source}: skipped {shown(name)}: not a group (a mapping)")
        return name
    builder.add_group(name)
    for key, value in (data or {}).items():
        if key in ("vars", "children", "hosts") and isinstance(value, str):
            value = {value: None}  # Ansible: `hosts: web1` is one host
        if value is None:
            continue
        if key not in ("vars", "children", "hosts"):
            builder.warnings.append(f"{source}: group {shown(name)}: skipped {shown(str(key))}")
        elif not isinstance(value, dict):
            raise UsageError(f"{source}: group {shown(name)}: {key} is not a mapping (name: ...)")
        elif key == "vars":
            for var, var_value in value.items():
                builder.set_group_var(name, str(var), var_value, f"{source}: group {shown(name)}")
        elif key == "children":
            for child, child_data in value.items():
                builder.add_child(name, _yaml_group(builder, child, child_data), source)
        else:
            for entry, host_data in value.items():
                _yaml_host(builder, name, entry, host_data)
    return name


def _yaml_host(builder: Builder, group: str, entry: Any, data: Any) -> None:
    """Add the host(s) of one entry under a YAML group's hosts, with their variables."""
    source = builder.source
    if not isinstance(entry, str):
        raise UsageError(f"{source}: group {shown(group)}: host {entry!r} is not text (quote it)")
    if data is not None and not isinstance(data, dict):
        raise UsageError(f"{source}: host {shown(entry)}: its variables are not a mapping")
    variables = {str(key): (value, source) for key, value in (data or {}).items()}
    builder.add_hosts(entry, group, variables, source)
