"""Options: declared once as dataclass fields, checked and parsed by their declared type.

Every option of a config, a command or a download is a dataclass field declared with `option(...)`:
its type, default, one line of help, and whether it defines the rows (options that do not, such as a
proxy or a retry count, never change the cache key). The config, the command line flags and the
settings objects all derive from these fields, so they cannot drift apart.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import functools
import math
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, TypeVar

from celeb_datasets.errors import OptionError

_Settings = TypeVar("_Settings")
_BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def option(default: Any, help: str, *, defines_rows: bool = True, aliases: tuple[str, ...] = ()) -> Any:
    """Declare one option as a dataclass field: its default, one line of help (the type is the field's).

    `defines_rows=False` for options that change how the work is done but never the rows (a proxy, a
    retry count, a seek threshold): they are left out of the cache key, so changing them reuses a build.
    `aliases` are older names still accepted (on the command line and as `--option NAME=VALUE`).
    """
    return dataclasses.field(
        default=default, metadata={"help": help, "defines_rows": defines_rows, "aliases": tuple(aliases)}
    )


@dataclasses.dataclass(frozen=True)
class OptionSpec:
    """One declared option: its name, type, default, help, whether it defines the rows, older names."""

    name: str
    kind: Any
    default: Any
    help: str
    defines_rows: bool
    aliases: tuple[str, ...]

    @property
    def flag(self) -> str:
        """Its command line flag: `--retry-backoff-sec` for `retry_backoff_sec`."""
        return "--" + self.name.replace("_", "-")

    def parse(self, text: str) -> Any:
        """Its value written as `text` on the command line (OptionError naming it if it cannot be)."""
        return parse_option_value(self.name, text, self.kind)


@functools.cache
def options_of(declaring: type) -> dict[str, OptionSpec]:
    """The options a dataclass declares with `option` (inherited ones included), by name."""
    hints = typing.get_type_hints(declaring)
    return {
        field.name: OptionSpec(
            field.name,
            hints[field.name],
            field.default,
            field.metadata["help"],
            field.metadata["defines_rows"],
            field.metadata["aliases"],
        )
        for field in dataclasses.fields(declaring)
        if "help" in field.metadata
    }


def option_types(declaring: type) -> dict[str, Any]:
    """The declared options of a dataclass and their types."""
    return {name: spec.kind for name, spec in options_of(declaring).items()}


def option_named(declaring: type, name: str) -> OptionSpec | None:
    """The option called `name` (or one of its older names) that `declaring` declares, if any."""
    options = options_of(declaring)
    return options.get(name) or next((spec for spec in options.values() if name in spec.aliases), None)


def settings_from(settings_class: type[_Settings], source: Any) -> _Settings:
    """A `settings_class` (a dataclass of options) holding the values of the same-named options of `source`."""
    return settings_class(**{name: getattr(source, name) for name in options_of(settings_class)})


def unknown_option_error(name: str, where: str, known: Iterable[str], also: Iterable[str] = ()) -> OptionError:
    """The OptionError for an option `name` that `where` (a dataset, a builder class) does not have: the
    closest name among `known` and `also` (other names it takes, not listed), then every one of `known`."""
    listed = sorted(known)
    closest = difflib.get_close_matches(name, [*listed, *also], n=1, cutoff=0.75)
    hint = f" (did you mean {closest[0]}?)" if closest else ""
    return OptionError(f"{where} has no such option{hint}; its options: {', '.join(listed)}")


def check_options(declaring: Any) -> None:
    """Raise OptionError unless every declared option of the dataclass instance has its declared type."""
    for name, spec in options_of(type(declaring)).items():
        check_option_value(name, getattr(declaring, name), spec.kind)


def check_option_value(name: str, value: Any, kind: Any) -> None:
    """Raise OptionError unless `value` is of the declared type `kind` (bool, int, float, str, Literal, X | None)."""
    if not _has_type(value, kind):
        raise OptionError(f"option {name}: expected {_type_words(kind)}, found {value!r}")


def coerce_option_value(name: str, value: Any, kind: Any) -> Any:
    """`value` checked against the declared type `kind`; a text given for a type parsed from text (such as a
    Slice, "0/8") is parsed first. Raises OptionError naming the option."""
    if isinstance(value, str) and any(_parses_text(choice) for choice in _choices(kind)):
        value = parse_option_value(name, value, kind)
    check_option_value(name, value, kind)
    return value


def parse_option_value(name: str, text: str, kind: Any) -> Any:
    """The value of option `name` written as `text` (on the command line), parsed by its declared type.

    An empty text is refused whatever the type: on a command line it is an unset shell variable far more
    often than a value (`none` says None).
    """
    if not text.strip():
        raise OptionError(
            f"option {name}: an empty value ({text!r}: an unset shell variable?); expected {_type_words(kind)}"
        )
    choices = _choices(kind)
    if type(None) in choices and text.lower() == "none":
        return None
    for choice in choices:
        with contextlib.suppress(ValueError):
            value = _parse_as(text, choice)
            if _has_type(value, choice):
                return value
    raise OptionError(f"option {name}: expected {_type_words(kind)}, found {text!r}")


def parse_byte_size(name: str, value: int | str) -> int:
    """A size in bytes given as a number of bytes or a text such as "500MB", "2GB", "1GiB" (OptionError if not)."""
    try:
        # Imported here: dataset packages declare options without importing `datasets` (it takes a second).
        from celeb_datasets.datasets_internals import convert_file_size_to_int

        size = convert_file_size_to_int(value)
    except (ValueError, TypeError):
        size = None
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise OptionError(f"{name}: expected a size such as 500MB, 2GB or a number of bytes, found {value!r}")
    return size


def _choices(kind: Any) -> tuple[Any, ...]:
    return typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, type(int | None)) else (kind,)


def _parses_text(kind: Any) -> bool:
    """Whether `kind` is a value type with its own text form (a classmethod `parse`, e.g. Slice)."""
    return isinstance(kind, type) and callable(getattr(kind, "parse", None))


def _parse_as(text: str, kind: Any) -> Any:
    if kind is bool:
        if text.lower() not in _BOOLEAN_WORDS:
            raise ValueError(text)
        return _BOOLEAN_WORDS[text.lower()]
    if kind in (int, float):
        return kind(text)
    if _parses_text(kind):
        try:
            return kind.parse(text)
        except OptionError as error:
            raise ValueError(str(error)) from None
    return text


def _has_type(value: Any, kind: Any) -> bool:
    origin = typing.get_origin(kind)
    if origin is Literal:
        return value in typing.get_args(kind)
    if origin in (typing.Union, type(int | None)):
        return any(_has_type(value, choice) for choice in typing.get_args(kind))
    if kind is type(None):
        return value is None
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _type_words(kind: Any) -> str:
    origin = typing.get_origin(kind)
    if origin is Literal:
        return "one of " + ", ".join(repr(choice) for choice in typing.get_args(kind))
    if origin in (typing.Union, type(int | None)):
        return " or ".join(_type_words(choice) for choice in typing.get_args(kind))
    if kind is bool:
        return "true or false (also 1/0, yes/no)"
    if _parses_text(kind):
        return getattr(kind, "TEXT_FORM", kind.__name__)
    return {int: "an integer", float: "a number", str: "a text", type(None): "none"}.get(kind, str(kind))


# ---------------------------------------------------------------------------------------------------
# Command line flags, derived from the declarations.

_FLAG_DEST = "option:"


def add_option_flags(parser: argparse.ArgumentParser, declaring: type, *, exclude: Iterable[str] = ()) -> None:
    """Add a flag for every option `declaring` declares (`--retry-backoff-sec`, older names too), but `exclude`.

    Values are kept as written; `given_options` parses them, so a bad value is one OptionError line.
    """
    excluded = set(exclude)
    for spec in options_in_order(declaring):
        if spec.name in excluded:
            continue
        flags = [spec.flag, *("--" + alias.replace("_", "-") for alias in spec.aliases)]
        default = "none" if spec.default is None else str(spec.default).lower() if spec.kind is bool else spec.default
        arguments: dict[str, Any] = {"dest": _FLAG_DEST + spec.name, "default": None, "metavar": _metavar(spec)}
        if spec.kind is bool:
            arguments |= {"nargs": "?", "const": "true"}
        parser.add_argument(*flags, help=f"{spec.help} (default: {default})", **arguments)


def path_argument(text: str) -> Path:
    """A file or folder given on the command line (argparse's `type` of every path argument), as the shell
    passed it.

    An empty text is refused (argparse prints it as one error line): an unset shell variable would
    otherwise name the current folder. A leading `~` is a name, not the home folder: the shell expands
    the unquoted one before the command sees it, so one that arrives was quoted; the path is made
    absolute, so that no later step (pyarrow, datasets, the package's own Python API) expands it.
    """
    if not text.strip():
        raise argparse.ArgumentTypeError(f"an empty path ({text!r}: an unset shell variable?); name a file or folder")
    return Path.cwd() / text if text.startswith("~") else Path(text)


def options_in_order(declaring: type) -> list[OptionSpec]:
    """The options `declaring` declares, its own first, then those it inherits (how media are encoded, how
    videos are fetched): the order of `--help` and of the documentation."""
    owners = [cls for cls in declaring.__mro__ if "__annotations__" in vars(cls)]
    order = {name: index for index, cls in reversed(list(enumerate(owners))) for name in vars(cls)["__annotations__"]}
    return sorted(options_of(declaring).values(), key=lambda spec: order.get(spec.name, len(owners)))


def given_options(arguments: argparse.Namespace, declaring: type) -> dict[str, Any]:
    """The options of `declaring` given as flags (added by `add_option_flags`), parsed by their types."""
    given = {}
    for name, spec in options_of(declaring).items():
        text = getattr(arguments, _FLAG_DEST + name, None)
        if text is not None:
            given[name] = spec.parse(text)
    return given


def _metavar(spec: OptionSpec) -> str:
    kind = spec.kind
    if typing.get_origin(kind) is Literal:
        return "{" + ",".join(map(str, typing.get_args(kind))) + "}"
    plain = [choice for choice in _choices(kind) if choice is not type(None)]
    if len(plain) == 1 and plain[0] is bool:
        return "true|false"
    if len(plain) == 1 and plain[0] in (int, float):
        return "N" if plain[0] is int else "X"
    if len(plain) == 1 and _parses_text(plain[0]):
        return getattr(plain[0], "METAVAR", spec.name.upper())
    return spec.name.upper()
