"""remoterepl: a local line-editing front end for one long-lived remote REPL or shell over SSH."""

__version__ = "0.1.0"
