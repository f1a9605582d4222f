"""The SSH layer: the only package (besides ``embedded``) that imports asyncssh.

It turns :class:`~remoterepl.settings.ConnectSettings` into an authenticated connection the
way OpenSSH's ``ssh`` would (ssh_config, jump hosts, known_hosts, keys, agent, passwords)
and offers the rest of remoterepl a small surface on it: processes, helper commands, SFTP
listings, keepalive probes. Every private asyncssh name it relies on is in :mod:`compat`.

Nothing is imported here: ``tuning`` must be able to import asyncssh the fast way before
any module of this package does.
"""
