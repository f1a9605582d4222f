"""Fleet test helpers: more host names for one test server, in the client's ssh_config."""

from __future__ import annotations

from collections.abc import Sequence

from tests.client_env import ClientEnv


def add_host_aliases(env: ClientEnv, names: Sequence[str], *, user: str | None = None) -> None:
    """Make each of ``names`` an ssh_config alias of ``env``'s server (its key user, or
    ``user``), ahead of the file's own blocks."""
    block = f"""\
Host {" ".join(names)}
    HostName {env.host}
    Port {env.port}
    User {user or env.users.user}
    IdentityFile {env.key_path}
    IdentitiesOnly yes
    UserKnownHostsFile {env.known_hosts_path}

"""
    env.config_path.write_text(block + env.config_path.read_text())
