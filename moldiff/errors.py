"""Exception types.

`InputError` marks a user mistake (a missing or malformed file, a bad option).
The CLI turns it into a one-line message and a non-zero exit, without a traceback;
library callers can catch it like any `ValueError`.
"""


class MoldiffError(Exception):
    """Base class of every error moldiff raises on purpose."""


class InputError(MoldiffError, ValueError):
    """Bad input from the user: the message names the file/key and the problem."""
