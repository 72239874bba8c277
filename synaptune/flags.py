# SPDX-License-Identifier: MIT
"""Command-line flags generated from dataclass fields: one source for a setting's name, default, help
and range.

A field becomes a flag when its metadata has a ``help`` (fields made with
:func:`synaptune.params.param`, or with :func:`option` for settings that are
not learner knobs). The flag is ``--<field-name-with-dashes>`` unless the
metadata names another (``flag``); its type is the field's (``X | None`` gives
``X``; ``bool`` gives a switch; ``tuple[str, ...]`` gives a repeatable flag whose
values are collected in order, e.g. ``--set a=1 --set b=2``); its default is the
field's; ``choices`` and ``metavar`` come from the metadata. :func:`check_numbers` checks the values
against the same metadata (``low``, ``low_open``; every float finite).

Example::

    @dataclass(frozen=True)
    class Settings:
        trials: int = option(9, low=1, help="trials to run")

    add_flags(parser, Settings)                  # --trials N (default 9)
    settings = Settings(**given(parser.parse_args(), Settings))
    check_numbers(settings)                      # "--trials must be at least 1, got 0."

This module imports nothing heavy: ``synaptune --help`` builds every flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from typing import Any

from synaptune.exceptions import ConfigError

_SCALARS = (bool, int, float, str)


def option(default: Any, *, help: str, flag: str | None = None, metavar: str | None = None,
           choices: tuple[Any, ...] | None = None, low: float | None = None, low_open: bool = False) -> Any:
    """A dataclass field that is also a command-line flag (see the module docstring)."""
    return dataclasses.field(default=default, metadata={
        "help": help, "flag": flag, "metavar": metavar, "choices": choices, "low": low, "low_open": low_open})


def flag_name(f: dataclasses.Field) -> str:
    """The flag of field ``f``: its metadata's ``flag``, else ``--`` and the name with dashes."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def flag_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of ``cls`` that are flags (a ``help`` in their metadata)."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("help")]


def scalar_type(hint: Any) -> type:
    """``int`` for ``int`` and for ``int | None``; the same for float, str and bool."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = inner[0] if len(inner) == 1 else hint
    if typing.get_origin(hint) is typing.Literal:
        hint = type(typing.get_args(hint)[0])
    if hint not in _SCALARS:
        raise TypeError(f"a flag must be bool, int, float or str (or one of them | None), got {hint!r}")
    return hint


def is_repeated(hint: Any) -> bool:
    """Whether a field of type ``hint`` is a repeatable flag: ``tuple[str, ...]``."""
    return typing.get_origin(hint) is tuple and typing.get_args(hint) == (str, Ellipsis)


class _AppendToTuple(argparse.Action):
    """Collects each use of a repeatable flag into a tuple (argparse's ``append`` needs a list default)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, (*(getattr(namespace, self.dest, None) or ()), values))


def parse_assignments(items: typing.Iterable[str], *, flag: str = "--set") -> dict[str, str]:
    """``NAME=VALUE`` items (a repeatable ``flag``) as ``{name: value}``; strings, a later NAME wins.

    Raises:
        ConfigError: an item without ``=`` or without a name.
    """
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{flag} expects NAME=VALUE, got {item!r}.")
        out[name.strip()] = value.strip()
    return out


def field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


def add_flags(parser: argparse.ArgumentParser | Any, cls: type, *, dest_prefix: str = "",
              only_given: bool = False) -> None:
    """Add one flag per flag field of ``cls`` to ``parser`` (or an argument group).

    Args:
        dest_prefix: prefixed to each field name to make its ``args`` attribute (two dataclasses
            with a field of the same name can share a parser).
        only_given: the flags have no default: an attribute exists only for a flag given (for
            settings merged over another source, such as a preset's).
    """
    hints = typing.get_type_hints(cls)
    for f in flag_fields(cls):
        m, default = f.metadata, field_default(f)
        if is_repeated(hints[f.name]):
            parser.add_argument(flag_name(f), dest=dest_prefix + f.name, action=_AppendToTuple,
                                default=argparse.SUPPRESS if only_given else default,
                                help=m["help"] + " (repeatable)", metavar=m.get("metavar") or f.name.upper())
            continue
        kind = scalar_type(hints[f.name])
        shown = "" if default in (None, "") or kind is bool else f" (default: {default})"
        kw: dict[str, Any] = {"dest": dest_prefix + f.name, "help": m["help"] + shown,
                              "default": argparse.SUPPRESS if only_given else default}
        if kind is bool:
            kw["action"] = "store_true"
        else:
            kw["type"] = kind
            choices = tuple(c for c in (m.get("choices") or ()) if c != "")  # "" is "not given"
            if choices:
                kw["choices"] = choices  # argparse shows them in place of a metavar
            else:
                kw["metavar"] = m.get("metavar") or f.name.upper()
        parser.add_argument(flag_name(f), **kw)


def given(args: argparse.Namespace, cls: type, *, dest_prefix: str = "") -> dict[str, Any]:
    """``{field name: value}`` of the flag fields of ``cls`` present in ``args``."""
    return {f.name: getattr(args, dest_prefix + f.name) for f in flag_fields(cls)
            if hasattr(args, dest_prefix + f.name)}


def check_numbers(obj: Any) -> None:
    """Raise :class:`ConfigError` for a flag value outside its range (``None`` means "not given").

    A value must be one of ``choices`` where they are given; every float must be finite;
    ``low`` is a minimum (exclusive with ``low_open``).
    """
    for f in flag_fields(type(obj)):
        value, low, name = getattr(obj, f.name), f.metadata.get("low"), flag_name(f)
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}.")
        if value is None or isinstance(value, (bool, str, tuple)):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value}.")
        if low is None:
            continue
        if isinstance(value, int) and value < low:
            raise ConfigError(f"{name} must be at least {low}, got {value}.")
        if isinstance(value, float) and (value <= low if f.metadata.get("low_open") else value < low):
            raise ConfigError(f"{name} must be {'>' if f.metadata.get('low_open') else '>='} {low:g}, got {value}.")
