"""Embedded SSH server: a real server to use remoterepl against without an sshd of one's own.

Library use (tests, scripts)::

    key = asyncssh.generate_private_key("ssh-ed25519")
    async with await start_server([key]) as server:        # 127.0.0.1, ephemeral port
        files = write_client_files(tmp_dir, server, key)     # ssh_config with "Host embedded"
        # remoterepl -F {files.config} embedded bc   /   ssh -F {files.config} embedded bc

Command line: ``remoterepl-demo [REMOTEREPL OPTIONS...] [COMMAND...]`` (see ``demo``).
"""

from __future__ import annotations

from remoterepl.embedded.client_files import ClientFiles, write_client_files
from remoterepl.embedded.server import EmbeddedServer, start_server

__all__ = ["ClientFiles", "EmbeddedServer", "start_server", "write_client_files"]
