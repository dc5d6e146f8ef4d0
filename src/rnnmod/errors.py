"""One exception type for every user-facing failure: the CLI prints it on one line, exit code 2."""


class RnnmodError(Exception):
    """A problem with the user's input or artifacts (not a bug): shown as one line, exit 2."""
