"""Help a person reads: `URL`, `FILE`, `N`, and flags shown as flags.

Typer prints Python types as metavars (`<bool>`, `<list[Path]>`, `{base_url}`), so `--pdf yes`
looks valid and a URL reads like a template placeholder. Every option in options.py names its own
metavar; these command classes do the rest: an argument shows its metavar alone (no `<str>`, no
braces in the usage line), and --help shows as the flag it is.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup


class ReadableArgument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the metavar (URL, FILE) already says what goes here

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")


# When an option names no metavar of its own: a word for its type, never a Python type name.
_TYPE_WORD = {"Path": "PATH", "str": "TEXT", "int": "N", "float": "N"}


def _fallback_metavar(param: Any) -> str:
    word = param.bare_type()
    for name, shown in _TYPE_WORD.items():
        if name in word:
            return shown
    return "VALUE"


def _readable(params: list[Any]) -> None:
    for param in params:
        if isinstance(param, TyperArgument) and not isinstance(param, ReadableArgument):
            param.__class__ = ReadableArgument  # same object and state, readable display only
        elif param.metavar is None:
            param.metavar = "" if getattr(param, "is_flag", False) else _fallback_metavar(param)


class ReadableCommand(TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _readable(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


class ReadableGroup(TyperGroup):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _readable(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option
