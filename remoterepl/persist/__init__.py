"""Sessions that outlive the link and the client: the remote holder and the client that
reattaches to it."""
