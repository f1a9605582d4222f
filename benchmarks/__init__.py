"""Benchmarks of remoterepl against OpenSSH's ssh on a loopback sshd (see README.md)."""
