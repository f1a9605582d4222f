"""Fleet test helpers: more host names for one test server, in the client's ssh_config."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tests.client_env import ClientEnv


def add_host_aliases(
    env: ClientEnv,
    names: Sequence[str],
    *,
    user: str | None = None,
    extra: Sequence[str] = (),
    port: int | None = None,
) -> None:
    """Make each of ``names`` an ssh_config alias of ``env``'s server (its key user, or
    ``user``), ahead of the file's own blocks, with the ``extra`` config lines; *port*
    (default the server's) reaches it another way, e.g. through a proxy."""
    lines = "".join(f"    {line}\n" for line in extra)
    block = f"""\
Host {" ".join(names)}
{lines}    HostName {env.host}
    Port {port or env.port}
    User {user or env.users.user}
    IdentityFile {env.key_path}
    IdentitiesOnly yes
    UserKnownHostsFile {env.known_hosts_path}

"""
    env.config_path.write_text(block + env.config_path.read_text())


@pytest.fixture(params=["embedded", "openssh"], name="fleet_env")
def fleet_env_fixture(request: pytest.FixtureRequest) -> ClientEnv:
    """A client HOME whose ssh_config names the hosts bar, bar2 (the key user) and barroot
    (root), all one test server: the embedded one, then a real sshd (skipped without root)."""
    env: ClientEnv = request.getfixturevalue(
        "embedded_env" if request.param == "embedded" else "client_env"
    )
    for name in ("bar", "bar2"):  # LC_* passes sshd's AcceptEnv: each knows its name
        add_host_aliases(env, [name], extra=[f"SetEnv LC_RRHOST={name}"])
    add_host_aliases(env, ["barroot"], user=env.users.root, extra=["SetEnv LC_RRHOST=barroot"])
    return env
