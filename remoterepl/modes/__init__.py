"""Front ends without a line editor, and what every front end shares.

Pipe mode (byte-exact streaming), raw terminal passthrough, ssh-style escapes and what they
do to a session, and the redirection of the remote streams to files. No prompt_toolkit.
"""
