"""The one long-lived remote process, whatever front end drives it.

Send input, deliver signals by the surest route, end the input, follow the window size and
report how the process ended. Front ends use :class:`~remoterepl.session.process.RemoteSession`
and never reach into the SSH layer below it.
"""
