"""The exceptions attnspec raises. Each carries the C++ library's message, "[attnspec.<category>] ...", unchanged."""


class Error(Exception):
    """The base of every attnspec exception."""


class InvalidArgument(Error, ValueError):
    """An unusable argument: wrong shape, non-finite entry, out-of-range option. The message names the function,
    the argument and the offending shape or value (and, in analyse_model, the layer and head)."""


class FileError(Error, OSError):
    """A file that cannot be read or is malformed. `path` names it; `offset` is the byte at fault, or None."""

    path = None
    offset = None


class Cancelled(Error):
    """analyse_model stopped because its progress callback returned False."""
