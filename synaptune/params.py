# SPDX-License-Identifier: MIT
"""Typed hyperparameter dataclasses: one source of truth for every knob.

A learner's ``Params`` is a frozen, keyword-only dataclass whose fields are made
with :func:`param`. Each field carries its validity domain and a one-line help;
search spaces, CLI ``--set`` overrides, MLflow params and presets all derive
from it.

Example::

    @dataclass(frozen=True, kw_only=True)
    class NaiveParams:
        lr: float = param(0.01, low=0.0, low_open=True, help="SGD step size.")

        def __post_init__(self) -> None:
            validate(self)
"""

from __future__ import annotations

import dataclasses
import logging
import math
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from synaptune._registry import did_you_mean
from synaptune.exceptions import ConfigError, UnknownNameError

P = TypeVar("P")

_SCALAR_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def param(
    default: Any,
    *,
    help: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    choices: tuple[Any, ...] | None = None,
    unit: str | None = None,
    flag: str | None = None,
    metavar: str | None = None,
) -> Any:
    """A dataclass field with a validity domain (bounds inclusive unless ``*_open``) and a one-line help.

    The one metadata helper of the package: learner and benchmark Params use it, and so do the
    settings that are command-line flags (:class:`synaptune.hpo.config.SweepConfig`), which
    :mod:`synaptune.flags` turns into flags. ``flag`` names the command-line flag where the default
    ``--<name-with-dashes>`` would not do; ``metavar`` is its placeholder in ``--help``.
    """
    meta = {"help": help, "low": low, "high": high, "low_open": low_open,
            "high_open": high_open, "choices": choices, "unit": unit, "flag": flag, "metavar": metavar}
    return dataclasses.field(default=default, metadata=meta)


def field_types(cls: type) -> dict[str, type]:
    """The scalar Python type (int, float, str, bool) of each field of ``cls``."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if hint not in _SCALAR_TYPES.values():
            raise TypeError(f"{cls.__name__}.{f.name}: only int/float/str/bool fields are supported")
        out[f.name] = hint
    return out


def domain_text(f: dataclasses.Field) -> str:
    """Human-readable domain of a field, e.g. ``(0, 1]`` or ``{sgd, adam}``."""
    m = f.metadata
    if m.get("choices"):
        return "{" + ", ".join(str(c) for c in m["choices"]) + "}"
    if m.get("low") is None and m.get("high") is None:
        return "any"
    lo = "-inf" if m["low"] is None else f"{m['low']:g}"
    hi = "inf" if m["high"] is None else f"{m['high']:g}"
    return f"{'(' if m['low_open'] or m['low'] is None else '['}{lo}, {hi}{')' if m['high_open'] or m['high'] is None else ']'}"


def in_domain(f: dataclasses.Field, value: Any) -> bool:
    m = f.metadata
    if m.get("choices") is not None:
        return value in m["choices"]
    if isinstance(value, float) and math.isnan(value):
        return False  # NaN compares False with every bound, so it would pass them all
    if m.get("low") is not None and (value < m["low"] or (m["low_open"] and value == m["low"])):
        return False
    if m.get("high") is not None and (value > m["high"] or (m["high_open"] and value == m["high"])):
        return False
    return True


def validate(obj: Any) -> None:
    """Check every field of a Params instance against its type and domain.

    Call it from ``__post_init__``. Raises :class:`ConfigError` naming the field,
    the domain, the value given and how to fix it.
    """
    cls = type(obj)
    types = field_types(cls)
    for f in dataclasses.fields(cls):
        value = getattr(obj, f.name)
        want = types[f.name]
        ok_type = isinstance(value, want) and not (want is not bool and isinstance(value, bool))
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            object.__setattr__(obj, f.name, float(value))
            value, ok_type = float(value), True
        if not ok_type:
            raise ConfigError(
                f"`{f.name}` must be {want.__name__}, got {value!r} ({type(value).__name__})."
            )
        if not in_domain(f, value):
            raise ConfigError(
                f"`{f.name}` must be in {domain_text(f)}, got {value!r}. {f.metadata['help']}"
            )


def coerce(cls: type, name: str, value: Any) -> Any:
    """Convert ``value`` (often a string from ``--set``) to the type of field ``name``."""
    want = field_types(cls)[name]
    if want is bool and isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"`{name}` must be true or false, got {value!r}.")
    if isinstance(value, str) and want is not str:
        try:
            if want is int:
                try:
                    return int(value)
                except ValueError:
                    number = float(value)  # "1e3", "3.0"; but never truncate "2.5" or "1e-3"
                    if not number.is_integer():
                        raise
                    return int(number)
            return want(value)
        except (ValueError, OverflowError):
            raise ConfigError(f"`{name}` must be {want.__name__}, got {value!r}.") from None
    if want is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def check_names(cls: type, names: typing.Iterable[str], *, where: str = "") -> None:
    """Raise :class:`UnknownNameError` for a name that is not a field of ``cls``."""
    known = [f.name for f in dataclasses.fields(cls)]
    for name in names:
        if name not in known:
            prefix = f"{where}: " if where else ""
            raise UnknownNameError(
                f"{prefix}`{name}` is not a parameter of {cls.__name__}."
                f"{did_you_mean(name, known)} Its parameters: {', '.join(known)}."
            )


def from_dict(cls: type[P], values: dict[str, Any], *, where: str = "") -> P:
    """Build ``cls`` from a (possibly partial) dict, rejecting unknown keys.

    A key in ``cls.RETIRED`` (a knob that did nothing and was removed: name -> why) is dropped with a
    warning, so presets and MLflow runs written before its removal still load.
    """
    retired = getattr(cls, "RETIRED", {})
    for name in sorted(set(values) & set(retired)):
        logging.getLogger("synaptune").warning("%s`%s` is ignored: it is no longer a parameter of %s (%s).",
                                               f"{where}: " if where else "", name, cls.__name__, retired[name])
    values = {k: v for k, v in values.items() if k not in retired}
    check_names(cls, values, where=where)
    try:
        return cls(**{k: coerce(cls, k, v) for k, v in values.items()})
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}" if where else str(e)) from None


def describe(cls: type) -> list[tuple[str, str, Any, str, str]]:
    """Rows ``(name, type, default, domain, help)`` for tables and docs."""
    types = field_types(cls)
    return [(f.name, types[f.name].__name__, f.default, domain_text(f), f.metadata.get("help", ""))
            for f in dataclasses.fields(cls)]


#: The largest file :func:`read_user_text` reads (a search space or a preset is a few KiB); checked by size
#: before reading, so a wrong or runaway file is refused at once instead of parsed for minutes.
MAX_USER_FILE_BYTES = 1024**2


def read_user_text(path: str | Path, *, what: str, hint: str = "", example: str = "") -> str:
    """The text of a file the user named (``--space``, ``--preset``...), or a one-line :class:`ConfigError`.

    Refuses, each with its own line: a missing path, a directory, something that
    is not a regular file, an unreadable file, a file over :data:`MAX_USER_FILE_BYTES`,
    an empty (or blank) file, and bytes that are not UTF-8 (a UTF-8 byte-order mark is accepted).

    Args:
        path: the file.
        what: its role in messages, e.g. ``"preset"``.
        hint: appended to the message of a missing file.
        example: where a valid file comes from (e.g. ``"`synaptune export` writes one"``),
            appended to the message of an empty one.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise ConfigError(f"{what} file {path} is a directory, not a file; name the YAML file itself.")
        if not path.exists():
            raise ConfigError(f"{what} file {path} does not exist.{' ' + hint if hint else ''}")
        if not path.is_file():
            raise ConfigError(f"{what} file {path} is not a regular file; name a YAML file.")
        size = path.stat().st_size
        if size > MAX_USER_FILE_BYTES:
            raise ConfigError(f"{what} file {path} is {size / 1024**2:.1f} MiB, more than the "
                              f"{MAX_USER_FILE_BYTES // 1024**2} MiB a {what} file may have (one is a few KiB); "
                              "check that it is the right file.")
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{what} file {path} cannot be read ({e.strerror or e}); check its permissions.") from None
    if not data.strip():
        raise ConfigError(f"{what} file {path} is empty ({len(data)} bytes)"
                          + (f"; {example}." if example else "; give a file with content."))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
        raise ConfigError(
            f"{what} file {path} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}"
            + ("; it looks like UTF-16" if utf16 else "") + "); save it as UTF-8.") from None


def read_yaml(path: str | Path, *, what: str, hint: str = "", example: str = "") -> Any:
    """Parse a YAML file the user named; any problem is a one-line :class:`ConfigError`.

    The file is read by :func:`read_user_text` (missing, directory, empty,
    not UTF-8), whose ``what``, ``hint`` and ``example`` it takes.
    """
    path = Path(path)
    text = read_user_text(path, what=what, hint=hint, example=example)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e}).") from None
