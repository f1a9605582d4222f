"""Ansible inventories (remoterepl/fanout/inventory.py, host_patterns.py) against Ansible's
own examples and rules: INI and YAML groups, children, variable precedence, host ranges,
ungrouped hosts, every --limit form, and the one-line errors. The expected selections and
settings are what ansible-core 2.x answers for the same files (InventoryManager.subset +
get_hosts, VariableManager.get_vars), except where a test says that remoterepl differs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remoterepl.errors import UsageError
from remoterepl.fanout.host_patterns import expand_range, split_host_port, split_limit
from remoterepl.fanout.inventory import Inventory, InventoryHost, load_inventory


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    """Write ``text`` (dedented) to ``tmp_path/name``; return the path as a string."""
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text))
    return str(path)


def load(tmp_path: Path, name: str, text: str | bytes) -> Inventory:
    """The inventory of a file written as ``write`` does."""
    return load_inventory(write(tmp_path, name, text))


def names(inventory: Inventory, limit: str | None) -> list[str]:
    """The host names ``limit`` selects, in order."""
    return [host.name for host in inventory.select(limit)]


# Ansible's INI example (plugins/inventory/ini.py EXAMPLES), with connection variables added.
DOCS_INI = """\
    # Example 1
    [web]
    host1
    host2 ansible_port=222 # defined inline, interpreted as an integer

    [web:vars]
    http_port=8080 # all members of 'web' will inherit these
    myvar=23 # defined in a :vars section, interpreted as a string
    ansible_user=webuser

    [web:children] # child groups will automatically add their hosts to parent group
    apache
    nginx

    [apache]
    tomcat1
    tomcat2 myvar=34 ansible_user=tom # host specific vars override group vars
    tomcat3 mysecret="'03#pa33w0rd'" # proper quoting to prevent value changes

    [nginx]
    jenkins1

    [nginx:vars]
    has_java = True # vars in child groups override same in parent
    ansible_user = nginxuser

    [all:vars]
    has_java = False # 'all' is 'top' parent
    ansible_user = everyone
    ansible_port = 2200
"""

# Ansible's YAML example (plugins/inventory/yaml.py EXAMPLES), with connection variables.
DOCS_YAML = """\
    all: # keys must be unique, i.e. only one 'hosts' per group
        hosts:
            test1:
            test2:
                host_var: value
        vars:
            group_all_var: value
            ansible_user: alluser
        children:   # key order does not matter, indentation does
            other_group:
                children:
                    group_x:
                        hosts:
                            test5   # Note that one machine will work without a colon
                    group_y:
                        hosts:
                            test6:  # So always use a colon
                        vars:
                            ansible_user: yuser
                vars:
                    g2_var2: value3
                    ansible_user: otheruser
                hosts:
                    test4:
                        ansible_host: 127.0.0.1
            last_group:
                hosts:
                    test1 # same host as above, additional group membership
                vars:
                    group_last_var: value
"""


def test_ini_docs_example_groups_children_and_precedence(tmp_path: Path) -> None:
    """Children's hosts count as the parent's; host vars > child group > parent > all."""
    inventory = load(tmp_path, "hosts.ini", DOCS_INI)
    assert list(inventory.hosts) == ["host1", "host2", "tomcat1", "tomcat2", "tomcat3", "jenkins1"]
    assert inventory.groups["web"] == list(inventory.hosts)
    assert inventory.groups["apache"] == ["tomcat1", "tomcat2", "tomcat3"]
    assert inventory.groups["all"] == list(inventory.hosts)
    assert inventory.groups["ungrouped"] == []
    hosts = inventory.hosts
    assert hosts["host1"] == InventoryHost("host1", None, 2200, "webuser")  # web > all
    assert hosts["host2"] == InventoryHost("host2", None, 222, "webuser")  # host > all
    assert hosts["tomcat1"].user == "webuser"  # apache sets none: its parent web's
    assert hosts["tomcat2"].user == "tom"  # host > groups
    assert hosts["jenkins1"].user == "nginxuser"  # nginx (child) > web (parent), wherever set


def test_yaml_docs_example(tmp_path: Path) -> None:
    """The yaml plugin's example: nested children, hosts without a colon, 'all' hosts."""
    inventory = load(tmp_path, "hosts.yml", DOCS_YAML)
    assert list(inventory.hosts) == ["test1", "test2", "test5", "test6", "test4"]
    assert inventory.groups["other_group"] == ["test5", "test6", "test4"]
    assert inventory.groups["last_group"] == ["test1"]
    assert inventory.groups["ungrouped"] == ["test2"]  # in no group but 'all'
    hosts = inventory.hosts
    assert hosts["test4"] == InventoryHost("test4", "127.0.0.1", None, "otheruser")
    assert hosts["test5"].user == "otheruser"  # group_x sets none: its parent's
    assert hosts["test6"].user == "yuser"  # group_y (depth 3) > other_group (depth 2)
    assert hosts["test1"].user == hosts["test2"].user == "alluser"
    assert inventory.warnings == []


def test_ungrouped_hosts_before_any_section(tmp_path: Path) -> None:
    """Hosts before the first section are ungrouped, unless a section lists them too."""
    inventory = load(
        tmp_path,
        "inv",
        """\
        host1 # this is 'ungrouped'
        host2 ansible_host=127.0.0.1 ansible_port=44
        host3 ansible_host=127.0.0.1 ansible_port=45
        host4
        [g1]
        host4
        [g2]
        host4 # same host as above, but member of 2 groups
        """,
    )
    assert inventory.groups["ungrouped"] == ["host1", "host2", "host3"]
    assert inventory.groups["g1"] == inventory.groups["g2"] == ["host4"]
    assert inventory.hosts["host3"] == InventoryHost("host3", "127.0.0.1", 45, None)


def test_group_precedence_depth_then_priority_then_name(tmp_path: Path) -> None:
    """Sibling groups merge by name (the later name wins) unless ansible_group_priority."""
    text = """\
        [a]
        h
        [b]
        h
        [a:vars]
        ansible_user=from_a
        {priority}
        [b:vars]
        ansible_user=from_b
        """
    plain = load(tmp_path, "one.ini", text.format(priority=""))
    assert plain.hosts["h"].user == "from_b"
    raised = load(tmp_path, "two.ini", text.format(priority="ansible_group_priority=10"))
    assert raised.hosts["h"].user == "from_a"


def test_ssh_names_win_over_the_new_names(tmp_path: Path) -> None:
    """Ansible's ssh plugin takes ansible_ssh_host over ansible_host when both are set,
    even when ansible_ssh_host comes from a group and ansible_host from the host."""
    inventory = load(
        tmp_path,
        "inv.ini",
        """\
        [g]
        h1 ansible_host=new ansible_ssh_port=2022 ansible_ssh_user=olduser
        h2 ansible_host=new ansible_user=newuser
        [g:vars]
        ansible_ssh_host=old
        ansible_user=groupuser
        """,
    )
    assert inventory.hosts["h1"] == InventoryHost("h1", "old", 2022, "olduser")
    assert inventory.hosts["h2"] == InventoryHost("h2", "old", None, "newuser")


def test_ini_values_quotes_comments_and_ports(tmp_path: Path) -> None:
    """Quoted inline values, ';' comments, host:port, [v6]:port, a bare IPv6 address."""
    inventory = load(
        tmp_path,
        "inv.ini",
        """\
        ; a comment
        [servers]
        alpha ansible_host="10.0.0.5" ansible_user='deploy'  # trailing comment
        beta:2222
        gamma:2222 ansible_port=22
        [::1]:2200
        fe80::1
        delta ansible_user=None
        [servers:vars]
        ansible_port=2300 # a comment after a :vars value
        """,
    )
    hosts = inventory.hosts
    assert hosts["alpha"] == InventoryHost("alpha", "10.0.0.5", 2300, "deploy")
    assert hosts["beta"].port == 2222  # the shorthand is a host variable: > group vars
    assert hosts["gamma"].port == 22  # an inline ansible_port comes after the shorthand
    assert hosts["::1"].port == 2200
    assert hosts["fe80::1"].port == 2300  # no brackets: the whole entry is the address
    assert hosts["delta"].user is None  # None counts as unset


def test_non_utf8_comment_is_allowed(tmp_path: Path) -> None:
    """As Ansible: other encodings only in comment lines."""
    inventory = load(tmp_path, "inv.ini", b"# caf\xe9\n[g]\nh1\n")
    assert list(inventory.hosts) == ["h1"]
    with pytest.raises(UsageError, match=r"inv2\.ini line 2: not UTF-8 text"):
        load(tmp_path, "inv2.ini", b"[g]\nh\xe9\n")


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("web[01:03].example.com", ["web01.example.com", "web02.example.com", "web03.example.com"]),
        ("db-[a:c]", ["db-a", "db-b", "db-c"]),
        ("n[1:10:4]", ["n1", "n5", "n9"]),
        ("n[:2]", ["n0", "n1", "n2"]),  # an empty begin is 0
        ("r[1:2]-[a:b]", ["r1-a", "r1-b", "r2-a", "r2-b"]),
        ("x[8:11]", ["x8", "x9", "x10", "x11"]),  # not padded: plain numbers
        ("plain", ["plain"]),
    ],
)
def test_host_ranges(entry: str, expected: list[str]) -> None:
    """Ranges expand as Ansible's expand_hostname_range does."""
    assert expand_range(entry) == expected


def test_ranges_with_ports_in_both_formats(tmp_path: Path) -> None:
    """A range with a :port in INI, and as a YAML host key."""
    ini = load(tmp_path, "inv.ini", "[web]\nweb[1:2]:2222 ansible_user=u\n")
    assert list(ini.hosts.values()) == [
        InventoryHost("web1", None, 2222, "u"),
        InventoryHost("web2", None, 2222, "u"),
    ]
    yaml = load(
        tmp_path,
        "inv.yaml",
        """\
        web:
          hosts:
            "web[1:2]:2222":
              ansible_user: u
            other: {ansible_port: "2022"}
        """,
    )
    assert list(yaml.hosts.values()) == [
        *ini.hosts.values(),
        InventoryHost("other", None, 2022, None),
    ]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("web:22", ("web", 22)),
        ("[::1]:22", ("::1", 22)),
        ("fe80::1", ("fe80::1", None)),
        ("w[1:3]:22", ("w[1:3]", 22)),
        ("w[1:3]", ("w[1:3]", None)),
        ("10.0.0.1:2222", ("10.0.0.1", 2222)),
    ],
)
def test_host_port_shorthand(entry: str, expected: tuple[str, int | None]) -> None:
    """The port splits off as Ansible's parse_address splits it."""
    assert split_host_port(entry) == expected


def test_children_and_vars_may_come_before_their_group(tmp_path: Path) -> None:
    """A group named in [x:children] or [x:vars] may be declared later in the file."""
    inventory = load(
        tmp_path,
        "inv.ini",
        """\
        [prod:children]
        web
        [web:vars]
        ansible_user=w
        [web]
        w1
        """,
    )
    assert inventory.groups["prod"] == ["w1"]
    assert inventory.hosts["w1"].user == "w"


def test_yaml_short_forms_json_and_warnings(tmp_path: Path) -> None:
    """`hosts: name` is one host; JSON is YAML; unexpected keys are skipped with a warning."""
    inventory = load(
        tmp_path,
        "inv.yml",
        """\
        web:
          hosts: web1
          host: typo
        db:
          children:
            web:
        """,
    )
    assert inventory.groups["db"] == ["web1"]
    assert inventory.warnings == [f"{tmp_path}/inv.yml: group web: skipped host"]
    as_json = load(tmp_path, "inv.json", '{"all": {"hosts": {"j1": {"ansible_port": 23}}}}')
    assert list(as_json.hosts.values()) == [InventoryHost("j1", None, 23, None)]


def test_no_extension_yaml_or_ini(tmp_path: Path) -> None:
    """A file without an extension: YAML when it loads as a YAML mapping, else INI."""
    as_yaml = load(tmp_path, "a", "all:\n  hosts:\n    y1:\n")
    as_ini = load(tmp_path, "b", "[g]\ni1 ansible_port=22\n")
    single = load(tmp_path, "c", "lonely\n")  # a YAML string, not a mapping: INI
    assert (list(as_yaml.hosts), list(as_ini.hosts), list(single.hosts)) == (
        ["y1"],
        ["i1"],
        ["lonely"],
    )


# -- --limit --

PATTERN_INI = """\
    [web]
    web1
    web2
    db
    [db]
    db1
    db2 # db is both a group and a host: a plain 'db' is the host
    [prod:children]
    web
    [prod]
    db1
    [staging]
    web2
    db2
    [v6]
    ::1
    fe80::2
"""
ALL = ["web1", "web2", "db", "db1", "db2", "::1", "fe80::2"]


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (None, ALL),
        ("all", ALL),
        ("*", ALL),
        ("web", ["web1", "web2", "db"]),
        ("web1", ["web1"]),
        ("web:db1", ["web1", "web2", "db", "db1"]),  # a union, in inventory order
        ("db1,web", ["web1", "web2", "db", "db1"]),
        ("db1, web", ["web1", "web2", "db", "db1"]),
        ("prod", ["web1", "web2", "db", "db1"]),  # children's hosts count
        ("prod:&staging", ["web2"]),  # intersection
        ("prod:!staging", ["web1", "db", "db1"]),  # exclusion
        ("!staging:prod", ["web1", "db", "db1"]),  # ! applies last, wherever written
        ("&staging:prod", ["web2"]),
        ("!web", ["db1", "db2", "::1", "fe80::2"]),  # no plain pattern: all, less web
        ("db", ["db"]),  # the host of that name, not the group
        ("&db", ["db1", "db2"]),  # all, & the group db
        ("web1:&db", []),
        ("db1:&db", ["db1"]),  # &db is the group db
        ("web?", ["web1", "web2"]),  # a glob names groups and hosts
        ("d*", ["db", "db1", "db2"]),  # group db and hosts db, db1, db2
        ("~web[12]", ["web1", "web2"]),
        ("~db", ["db", "db1", "db2"]),  # a regex matches from the start of the name
        ("~.*2$", ["web2", "db2", "fe80::2"]),
        ("web[0]", ["web1"]),  # subscripts of a group's hosts (inventory order)
        ("web[-1]", ["db"]),
        ("web[1:2]", ["web2", "db"]),
        ("web[1:]", ["web2", "db"]),
        ("web[0:0]", ["web1"]),
        ("nothing:web1", ["web1"]),  # an unmatched part is ignored
        ("web:db1,db2", ["db2"]),  # with a comma, ':' is not a separator (as Ansible)
        ("::1", ["::1"]),  # an IPv6 address stays whole
        ("fe80::2", ["fe80::2"]),
        ("v6,!::1", ["fe80::2"]),  # commas keep IPv6 addresses whole
    ],
)
def test_limit_patterns(tmp_path: Path, limit: str | None, expected: list[str]) -> None:
    """Each --limit form selects what Ansible selects for it."""
    inventory = load(tmp_path, "inv.ini", PATTERN_INI)
    if expected:
        assert names(inventory, limit) == expected
    else:
        with pytest.raises(UsageError, match="matches no host in"):
            inventory.select(limit)


def test_limit_from_file_and_unmatched_parts(tmp_path: Path) -> None:
    """``@FILE`` takes one pattern per line; unmatched() lists the parts Ansible warns of."""
    inventory = load(tmp_path, "inv.ini", PATTERN_INI)
    limit_file = write(tmp_path, "retry", "web1\n\n!db1\nstaging\n")
    assert names(inventory, f"@{limit_file}") == ["web1", "web2", "db2"]
    assert inventory.unmatched("web1:nope:!also_nope") == ["nope", "!also_nope"]
    assert inventory.unmatched("web:all") == []


def test_split_limit_as_ansible() -> None:
    """Commas first; else ':' and blanks, brackets kept whole; IPv6 addresses whole."""
    assert split_limit("a:b[1:2]:!c") == ["a", "b[1:2]", "!c"]
    assert split_limit("a b") == ["a", "b"]
    assert split_limit("a:b,c") == ["a:b", "c"]
    assert split_limit("!fe80::1") == ["!fe80::1"]
    assert split_limit(" , ,") == []


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("nothing", "--limit nothing matches no host in "),
        ("web:&staging:!web2", "--limit web:&staging:!web2 matches no host in "),
        ("~web(", "--limit: ~web( is not a valid pattern: "),
        ("web[5]", "--limit web[5]: web has 3 hosts (the first is [0], the last [2] or [-1])"),
        ("@/nonexistent/limit", "--limit @/nonexistent/limit: cannot read it: No such file"),
        ("@/", "--limit @/: cannot read it: Is a directory"),
        ("@a\x00", "--limit @a\\x00: cannot read it: embedded null byte"),
        ("nothing\x1b[2J", "--limit nothing\\e[2J matches no host"),  # shown(), not sent raw
        ("v6:!::1", "--limit: a '!' with no pattern after it (separate IPv6 addresses with"),
        ("web:&", "--limit: a '&' with no pattern after it"),
    ],
)
def test_limit_errors(tmp_path: Path, limit: str, message: str) -> None:
    """A --limit that selects nothing, or is malformed, is one UsageError line."""
    inventory = load(tmp_path, "inv.ini", PATTERN_INI)
    with pytest.raises(UsageError) as caught:
        inventory.select(limit)
    assert str(caught.value).startswith(message), str(caught.value)


@pytest.mark.parametrize(
    ("name", "text"), [("empty.ini", "# none yet\n[web]\n"), ("empty.yml", "")]
)
def test_empty_inventory_selects_nothing(tmp_path: Path, name: str, text: str) -> None:
    """An inventory without hosts loads (as in Ansible), but choosing its hosts is an error."""
    inventory = load(tmp_path, name, text)
    assert inventory.hosts == {}
    with pytest.raises(UsageError, match=rf"{name} has no hosts"):
        inventory.select(None)


# -- errors: one line naming the file (and the line, for INI) --

INI_ERRORS = [
    ("[web:foo]\nh\n", "line 1: unknown section kind :foo"),
    ("[web ]\n", "line 1: bad section header [web ] (no spaces inside)"),
    ("[g]\nh\n[x:vars]\na=1\n", "line 3: group x has no [x] section"),
    ("[p:children]\nmissing\n", "line 2: group missing has no [missing] section"),
    ("[a:children]\nb\n[b:children]\na\n", "line 4: group a as a child of b makes a loop"),
    ("[a:children]\na\n", "line 2: group a as a child of a makes a loop"),
    ("[a:children]\nall\n", "line 2: group all as a child of a makes a loop"),
    ("[g]\nweb:\n", "line 2: host web: ends in ':' (a port number comes after it)"),
    ("[g]\nh user\n", "line 2: expected key=value after the host, got user"),
    ("[g]\nh a='b\n", "line 2: cannot read h a='b: No closing quotation"),
    ('[g]\n""\n', "line 2: an empty host name"),
    ("[g:vars]\nnovalue\n[g]\n", "line 2: expected key=value, got novalue"),
    ("[g:children]\nbad child\n", "line 2: expected a group name, got bad child"),
    ("[g]\nweb[1:]\n", "line 2: web[1:]: range [1:] has no end"),
    ("[g]\nweb[3:1]\n", "line 2: web[3:1]: range [3:1] ends before it begins"),
    (
        "[g]\nweb[01:3]\n",
        "line 2: web[01:3]: range [01:3]: a zero-padded begin needs an end as wide",
    ),
    (
        "[g]\nweb[a:3]\n",
        "line 2: web[a:3]: range [a:3] is neither of numbers nor of single letters",
    ),
    (
        "[g]\nweb[1:2:0]\n",
        "line 2: web[1:2:0]: range [1:2:0]: the step must be a whole number from 1",
    ),
    ("[g]\nweb[1:2\n", "line 2: web[1:2: a range without its closing ']'"),
    ("---\nall:\n", "line 1: '---' starts a YAML document"),
    ("[g]\nh ansible_port=abc\n", "line 2: host h: ansible_port 'abc' is not a port number"),
    ("[g]\nh ansible_port=0\n", "line 2: host h: ansible_port 0 is not a port number"),
    ("[g]\nh:70000\n", "line 2: host h: ansible_port 70000 is not a port number"),
    ("[g]\nh\n[g:vars]\nansible_port=x\n", "line 4: host h: ansible_port 'x' is not a port"),
    ("[g]\nh ansible_user=[1]\n", "line 2: host h: ansible_user [1] is not text"),
    ("[g:vars]\nansible_group_priority=hi\n[g]\n", "line 2: ansible_group_priority hi is"),
]


@pytest.mark.parametrize(("text", "message"), INI_ERRORS)
def test_ini_errors(tmp_path: Path, text: str, message: str) -> None:
    """Each bad INI inventory is one UsageError naming the file and the line."""
    path = write(tmp_path, "inv.ini", text)
    with pytest.raises(UsageError) as caught:
        load_inventory(path)
    assert str(caught.value).startswith(f"{path} {message}"), str(caught.value)
    assert "\n" not in str(caught.value)


YAML_ERRORS = [
    ("- a\n- b\n", ": a YAML inventory is a mapping of groups (all: ...)"),
    ("plugin: aws_ec2\n", ": an inventory plugin's configuration, not an inventory"),
    ("all:\n  hosts: [a, b]\n", ": group all: hosts is not a mapping (name: ...)"),
    ("all:\n  hosts:\n    1:\n", ": group all: host 1 is not text (quote it)"),
    ("all:\n  hosts:\n    h: [1]\n", ": host h: its variables are not a mapping"),
    ("1:\n  hosts: h\n", ": group name 1 is not text"),
    (
        "all:\n  hosts:\n    h:\n      ansible_port: 1.5\n",
        ": host h: ansible_port 1.5 is not a port number",
    ),
    (
        "all:\n  hosts:\n    h:\n      ansible_user: true\n",
        ": host h: ansible_user True is not text",
    ),
    ("all:\n  hosts:\n   h: 1\n  x: : y\n", " line 4: not valid YAML: "),
    ("a: &x\n  children:\n    b: *x\n", ": groups nest too deep"),
    ("all:\n  hosts:\n    web[1:]:\n", ": web[1:]: range [1:] has no end"),
    ("g:\n  children:\n    g:\n", ": group g as a child of g makes a loop"),
]


@pytest.mark.parametrize(("text", "message"), YAML_ERRORS)
def test_yaml_errors(tmp_path: Path, text: str, message: str) -> None:
    """Each bad YAML inventory is one UsageError naming the file."""
    path = write(tmp_path, "inv.yml", text)
    with pytest.raises(UsageError) as caught:
        load_inventory(path)
    assert str(caught.value).startswith(f"{path}{message}"), str(caught.value)
    assert "\n" not in str(caught.value)


def test_unreadable_files(tmp_path: Path) -> None:
    """A missing file, a directory, a file that is not UTF-8: one line each."""
    with pytest.raises(UsageError, match=r"missing\.ini: cannot read it: No such file"):
        load_inventory(str(tmp_path / "missing.ini"))
    with pytest.raises(UsageError, match=r"a\\x00b: cannot read it: embedded null byte"):
        load_inventory(str(tmp_path / "a\x00b"))
    with pytest.raises(UsageError, match="is a directory, not an inventory file"):
        load_inventory(str(tmp_path))
    with pytest.raises(UsageError, match=r"bad\.yml line 2: not UTF-8 text"):
        load(tmp_path, "bad.yml", b"all:\n  hosts: {h\xff: }\n")


# -- properties: whatever the file or the limit, an inventory or one line, never a traceback --

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Pieces of inventory syntax, so that the text gets past the first line often enough.
INI_WORDS = st.sampled_from(
    [
        "[g]",
        "[g:vars]",
        "[g:children]",
        "[h:foo]",
        "h1",
        "h[1:3]",
        "h[a:",
        "x:22",
        "[::1]:2",
        "ansible_port=22",
        "ansible_port=x",
        "ansible_user='u'",
        'a="b',
        "#",
        ";",
        "g",
        "---",
        "all",
        "\x1b",
        "=",
        ":",
        "[",
        "]",
        " ",
        "\n",
        "\t",
        "\u2028",
    ]
)
YAML_WORDS = st.sampled_from(
    [
        "all:",
        "hosts:",
        "children:",
        "vars:",
        "g:",
        "h1:",
        "h[1:2]:",
        "ansible_port: 22",
        "ansible_port: [1]",
        "ansible_host: {}",
        "- x",
        "&a",
        "*a",
        "plugin: x",
        "1:",
        "~",
        '"',
        "{",
        "}",
        ": ",
        "\n",
        "\n  ",
        "\n    ",
        "\n      ",
    ]
)


@PROPERTY
@given(st.lists(INI_WORDS | st.text(max_size=4), max_size=30))
def test_any_ini_text_loads_or_is_one_line(words: list[str]) -> None:
    """Any INI text is an inventory or one UsageError line naming the file."""
    _loads_or_one_line("inv.ini", "".join(words))


@PROPERTY
@given(st.lists(YAML_WORDS | st.text(max_size=3), max_size=30))
def test_any_yaml_text_loads_or_is_one_line(words: list[str]) -> None:
    """Any YAML text (also without an extension) is an inventory or one UsageError line."""
    for name in ("inv.yml", "inv"):
        _loads_or_one_line(name, "".join(words))


def _loads_or_one_line(name: str, text: str) -> None:
    """Load ``text`` as file ``name``: an Inventory, or a one-line error naming the file."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/{name}"
        Path(path).write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            inventory = load_inventory(path)
        except UsageError as exc:
            assert str(exc).startswith(path) and "\n" not in str(exc), str(exc)
        else:
            assert set(inventory.groups["all"]) == set(inventory.hosts)


LIMIT_WORDS = st.sampled_from(
    [
        "web",
        "db",
        "db1",
        "*",
        "all",
        "~w.*",
        "~(",
        "!",
        "&",
        ":",
        ",",
        "[0]",
        "[1:]",
        "[9]",
        "::1",
        "fe80::2",
        "@",
        " ",
        "?",
        "[",
        "]",
        "v6",
        "staging",
    ]
)


@PROPERTY
@given(st.lists(LIMIT_WORDS | st.text(max_size=3), max_size=12))
def test_any_limit_selects_or_is_one_line(words: list[str]) -> None:
    """Any --limit selects inventory hosts, in inventory order, or is one UsageError line;
    ``a:!b`` never selects a host of ``b``."""
    inventory = load_inventory(_pattern_file())
    limit = "".join(words)
    try:
        chosen = names(inventory, limit)
    except UsageError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("--limit"), str(exc)
        return
    assert chosen == [name for name in inventory.hosts if name in chosen]
    if "," in limit or limit.strip() in ("::1", "fe80::2"):
        return  # ':' would not separate the '!web' added below
    try:
        without_web = names(inventory, f"{limit}:!web")
    except UsageError:
        return  # nothing left
    assert set(without_web) == set(chosen) - set(inventory.groups["web"])


def _pattern_file() -> str:
    """PATTERN_INI in a file that lives as long as the test run (hypothesis forbids
    function-scoped fixtures in @given tests)."""
    import atexit
    import shutil
    import tempfile

    global _PATTERN_PATH
    if _PATTERN_PATH is None:
        folder = tempfile.mkdtemp()
        atexit.register(shutil.rmtree, folder, True)
        _PATTERN_PATH = write(Path(folder), "inv.ini", PATTERN_INI)
    return _PATTERN_PATH


_PATTERN_PATH: str | None = None
