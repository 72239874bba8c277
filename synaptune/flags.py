# SPDX-License-Identifier: MIT
"""Command-line flags generated from dataclass fields: one source for a setting's name, default, help
and range.

A field becomes a flag when its metadata has a ``help`` (fields made with
:func:`synaptune.params.param`, the package's one metadata helper). The flag is
``--<field-name-with-dashes>`` unless the metadata names another (``flag``); its type is the
field's (``X | None`` gives ``X``; ``bool`` gives a switch; ``tuple[str, ...]`` gives a repeatable
flag whose values are collected in order, e.g. ``--set a=1 --set b=2``); its default is the field's;
``choices`` and ``metavar`` come from the metadata. :func:`check_numbers` checks the values against
the same metadata (``low``/``high``, ``*_open``; every float finite).

A command that shares some of another's flags adds them from the same dataclass, naming them
(``names``) and stating where it differs (``defaults``, ``helps``, ``required``): a flag is declared
once, wherever it appears.

Example::

    @dataclass(frozen=True)
    class Settings:
        trials: int = param(9, low=1, help="trials to run")
        seed: int = param(0, help="sampler seed")

    add_flags(parser, Settings)                  # --trials N (default 9), --seed SEED
    settings = Settings(**given(parser.parse_args(), Settings))
    check_numbers(settings)                      # "--trials must be at least 1, got 0."
    add_flags(other, Settings, names=("trials",), defaults={"trials": 3})   # the same --trials, default 3

This module imports nothing heavy: ``synaptune --help`` builds every flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from synaptune.exceptions import ConfigError

_SCALARS = (bool, int, float, str)


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


def add_flags(parser: argparse.ArgumentParser | Any, cls: type, *, names: Sequence[str] | None = None,
              dest_prefix: str = "", only_given: bool = False, defaults: Mapping[str, Any] | None = None,
              helps: Mapping[str, str] | None = None, required: Collection[str] = ()) -> None:
    """Add one flag per flag field of ``cls`` to ``parser`` (or an argument group).

    Args:
        names: only these flag fields, in this order (default: every flag field, in field order).
        dest_prefix: prefixed to each field name to make its ``args`` attribute (two dataclasses
            with a field of the same name can share a parser).
        only_given: the flags have no default: an attribute exists only for a flag given (for
            settings merged over another source, such as a preset's).
        defaults: ``{field name: default}`` for this parser in place of the field's (e.g. ``None``
            where the command fills the value in later).
        helps: ``{field name: help}`` for this parser in place of the field's, where the command
            gives the flag another role (``run --seeds``: seeds of a test run, not of a trial).
        required: field names whose flag must be given.

    Raises:
        ValueError: a name in ``names``, ``defaults``, ``helps`` or ``required`` that is not a flag
            field of ``cls`` (a programming error).
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in flag_fields(cls)}
    defaults, helps = dict(defaults or {}), dict(helps or {})
    chosen = list(fields) if names is None else list(names)
    unknown = sorted((set(chosen) | set(defaults) | set(helps) | set(required)) - set(fields))
    if unknown:
        raise ValueError(f"{cls.__name__} has no flag field {', '.join(unknown)}; its flag fields: "
                         f"{', '.join(fields)}")
    for name in chosen:
        f = fields[name]
        m = f.metadata
        default = defaults[name] if name in defaults else field_default(f)
        text = helps.get(name, m["help"])
        kw: dict[str, Any] = {"dest": dest_prefix + name,
                              "default": argparse.SUPPRESS if only_given else default}
        if name in required:
            kw["required"] = True
        if is_repeated(hints[name]):
            parser.add_argument(flag_name(f), action=_AppendToTuple, help=text + " (repeatable)",
                                metavar=m.get("metavar") or name.upper(), **kw)
            continue
        kind = scalar_type(hints[name])
        shown = "" if default in (None, "") or kind is bool or name in required else f" (default: {default})"
        kw["help"] = text + shown
        if kind is bool:
            kw["action"] = "store_true"
        else:
            kw["type"] = kind
            choices = tuple(c for c in (m.get("choices") or ()) if c != "")  # "" is "not given"
            if choices:
                kw["choices"] = choices  # argparse shows them in place of a metavar
            else:
                kw["metavar"] = m.get("metavar") or name.upper()
        parser.add_argument(flag_name(f), **kw)


def given(args: argparse.Namespace, cls: type, *, dest_prefix: str = "") -> dict[str, Any]:
    """``{field name: value}`` of the flag fields of ``cls`` present in ``args``."""
    return {f.name: getattr(args, dest_prefix + f.name) for f in flag_fields(cls)
            if hasattr(args, dest_prefix + f.name)}


def check_numbers(obj: Any) -> None:
    """Raise :class:`ConfigError` for a flag value outside its range (``None`` means "not given").

    A value must be one of ``choices`` where they are given; every float must be finite;
    ``low`` is a minimum and ``high`` a maximum (exclusive with ``low_open`` / ``high_open``).
    """
    for f in flag_fields(type(obj)):
        m, value, name = f.metadata, getattr(obj, f.name), flag_name(f)
        low, high = m.get("low"), m.get("high")
        choices = m.get("choices")
        if choices and value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}.")
        if value is None or isinstance(value, (bool, str, tuple)):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value}.")
        if isinstance(value, int):
            if low is not None and value < low:
                raise ConfigError(f"{name} must be at least {low}, got {value}.")
            if high is not None and value > high:
                raise ConfigError(f"{name} must be at most {high}, got {value}.")
            continue
        if low is not None and (value <= low if m.get("low_open") else value < low):
            raise ConfigError(f"{name} must be {'>' if m.get('low_open') else '>='} {low:g}, got {value}.")
        if high is not None and (value >= high if m.get("high_open") else value > high):
            raise ConfigError(f"{name} must be {'<' if m.get('high_open') else '<='} {high:g}, got {value}.")
