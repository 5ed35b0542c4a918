"""The one exception type for bad input: the CLI prints its message as one line and exits non-zero."""


class IGRTInputError(Exception):
    """Input that the tool refuses (unreadable, inconsistent, or geometrically unsafe).

    The message must be one clear line a physicist can act on.
    """
