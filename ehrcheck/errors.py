"""The exception for bad user input, in a module of its own so that the CLI can catch it without
importing the evidence models (pydantic) before a command needs them: `--help` stays fast."""


class UserInputError(Exception):
    """Bad input from the user: shown as one clear message, exit code 2, never a traceback."""
