"""The one exception type that reaches a user as a one-line message (CLI exit code 2)."""

import difflib


class GenzooError(Exception):
    """A problem with the user's input: a recipe, a file, a plugin name, a run directory.

    The message is one line that names the problem and the fix. The CLI prints it without a
    traceback and exits with code 2.
    """


def did_you_mean(name: str, choices) -> str:
    """' (did you mean 'x'?)' for the nearest valid choice, or a list of the valid ones."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    if choices:
        return f" (valid: {', '.join(choices)})"
    return ""
