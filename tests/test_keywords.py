"""The keyword table (remoterepl/ssh/keywords.py) against OpenSSH's and asyncssh's: every
OpenSSH client keyword is classified once, what remoterepl says it implements is parsed,
and what it says it does not implement is refused (-o) or warned about."""

from __future__ import annotations

import pytest
from asyncssh.config import SSHClientConfig

from remoterepl.errors import UsageError
from remoterepl.ssh import config, keywords

# readconf.c keywords[] of OpenSSH 9.2p1 and 10.x, lower case (as ssh matches them).
OPENSSH_KEYWORDS = (
    "addkeystoagent",
    "addressfamily",
    "afstokenpassing",
    "batchmode",
    "bindaddress",
    "bindinterface",
    "canonicaldomains",
    "canonicalizefallbacklocal",
    "canonicalizehostname",
    "canonicalizemaxdots",
    "canonicalizepermittedcnames",
    "casignaturealgorithms",
    "certificatefile",
    "challengeresponseauthentication",
    "channeltimeout",
    "checkhostip",
    "cipher",
    "ciphers",
    "clearallforwardings",
    "compression",
    "compressionlevel",
    "connectionattempts",
    "connecttimeout",
    "controlmaster",
    "controlpath",
    "controlpersist",
    "dsaauthentication",
    "dynamicforward",
    "enableescapecommandline",
    "enablesshkeysign",
    "escapechar",
    "exitonforwardfailure",
    "fallbacktorsh",
    "fingerprinthash",
    "forkafterauthentication",
    "forwardagent",
    "forwardx11",
    "forwardx11timeout",
    "forwardx11trusted",
    "gatewayports",
    "globalknownhostsfile",
    "globalknownhostsfile2",
    "gssapiauthentication",
    "gssapidelegatecredentials",
    "hashknownhosts",
    "host",
    "hostbasedacceptedalgorithms",
    "hostbasedauthentication",
    "hostbasedkeytypes",
    "hostkeyalgorithms",
    "hostkeyalias",
    "hostname",
    "identitiesonly",
    "identityagent",
    "identityfile",
    "identityfile2",
    "ignoreunknown",
    "include",
    "ipqos",
    "kbdinteractiveauthentication",
    "kbdinteractivedevices",
    "keepalive",
    "kerberosauthentication",
    "kerberostgtpassing",
    "kexalgorithms",
    "knownhostscommand",
    "localcommand",
    "localforward",
    "loglevel",
    "logverbose",
    "macs",
    "match",
    "nohostauthenticationforlocalhost",
    "numberofpasswordprompts",
    "obscurekeystroketiming",
    "passwordauthentication",
    "permitlocalcommand",
    "permitremoteopen",
    "pkcs11provider",
    "port",
    "preferredauthentications",
    "protocol",
    "proxycommand",
    "proxyjump",
    "proxyusefdpass",
    "pubkeyacceptedalgorithms",
    "pubkeyacceptedkeytypes",
    "pubkeyauthentication",
    "refuseconnection",
    "rekeylimit",
    "remotecommand",
    "remoteforward",
    "requesttty",
    "requiredrsasize",
    "revokedhostkeys",
    "rhostsauthentication",
    "rhostsrsaauthentication",
    "rsaauthentication",
    "securitykeyprovider",
    "sendenv",
    "serveralivecountmax",
    "serveraliveinterval",
    "sessiontype",
    "setenv",
    "skeyauthentication",
    "smartcarddevice",
    "stdinnull",
    "streamlocalbindmask",
    "streamlocalbindunlink",
    "stricthostkeychecking",
    "syslogfacility",
    "tag",
    "tcpkeepalive",
    "tisauthentication",
    "tunnel",
    "tunneldevice",
    "updatehostkeys",
    "useprivilegedport",
    "user",
    "userknownhostsfile",
    "userknownhostsfile2",
    "useroaming",
    "usersh",
    "verifyhostkeydns",
    "versionaddendum",
    "visualhostkey",
    "warnweakcrypto",
    "xauthlocation",
)


def test_every_openssh_keyword_is_classified_once() -> None:
    """Implemented, not implemented, obsolete or an alias: exactly one of them."""
    groups = [
        set(keywords.IMPLEMENTED),
        set(keywords.NOT_IMPLEMENTED),
        set(keywords.OBSOLETE),
        set(keywords.ALIASES),
    ]
    for name in OPENSSH_KEYWORDS:
        spelled = keywords.canonical(name)
        assert spelled is not None, name
        assert sum(spelled in group for group in groups) == 1, spelled
    assert len(OPENSSH_KEYWORDS) > 120


def test_what_is_implemented_is_parsed_and_the_rest_is_not() -> None:
    """IMPLEMENTED keywords reach asyncssh's parser (its own, or taught by config.py);
    IgnoreUnknown is read by config_check. Not-implemented features are parsed only to be
    warned about; the ignored ones are not parsed at all."""
    assert config.DEFAULTS  # imported: config.py has taught asyncssh its keywords
    handlers = SSHClientConfig._handlers
    for name in keywords.IMPLEMENTED - {"IgnoreUnknown"}:
        assert name.lower() in handlers, name
    for name, missing in keywords.NOT_IMPLEMENTED.items():
        assert (name.lower() in handlers) == (missing is keywords.Missing.FEATURE), name
    for name in handlers:
        assert keywords.canonical(name) is not None, f"asyncssh parses {name}: classify it"


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("ForwardX11=yes", "ForwardX11 is not implemented by remoterepl"),
        ("ControlMaster=auto", "ControlMaster is not implemented"),
        ("Bogus=1", "unknown keyword 'Bogus'"),
        ("Port=99999", "bad port"),
        ("Port=0", "bad port"),
        ("ConnectTimeout=-5", "invalid time value"),
        ("ServerAliveCountMax=-1", "whole number"),
        ("ServerAliveInterval=" + "9" * 400, "invalid time value"),  # was an OverflowError
        ("ConnectTimeout=" + "9" * 5000, "invalid time value"),  # past int()'s digit limit
        ("Port=" + "9" * 5000, "bad port"),
        ("Include=/etc/passwd", "Include is for ssh_config files"),
        ("Match=exec true", "Match is for ssh_config files"),
        ("User=a\nProxyCommand touch /tmp/x", "control characters"),
        ("IdentityFile=~nosuchuser4711/key", "no such user"),
    ],
)
def test_o_refusals(option: str, expected: str) -> None:
    """-o with what ssh refuses, or with a feature remoterepl lacks: one line naming it."""
    with pytest.raises(UsageError) as caught:
        keywords.parse_options([option])
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_o_accepted_and_warned() -> None:
    """A harmless unimplemented keyword is dropped with a warning; a feature turned off is
    dropped quietly; an alias becomes the keyword it means; IgnoreUnknown works."""
    options, warnings = keywords.parse_options(
        [
            "LogLevel=ERROR",
            "ForwardX11=no",
            "keepalive=yes",
            "IgnoreUnknown=UseKeychain,Foo*",
            "FooBar=yes",
            "port=2222",
        ]
    )
    assert options == (
        ("TCPKeepAlive", "yes"),
        ("IgnoreUnknown", "UseKeychain,Foo*"),
        ("Port", "2222"),
    )
    assert warnings == ("-o LogLevel=ERROR: LogLevel is not implemented by remoterepl: ignored",)
