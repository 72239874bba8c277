# SPDX-License-Identifier: MIT
"""Params helpers (validate, coerce, from_dict, describe) and the name registry."""

from __future__ import annotations

import dataclasses
import math
import sys
import types
from dataclasses import dataclass

import pytest

from synaptune._registry import Registry, did_you_mean
from synaptune.exceptions import ConfigError, UnknownNameError
from synaptune.params import (
    check_names,
    coerce,
    describe,
    domain_text,
    from_dict,
    in_domain,
    param,
    validate,
)


@dataclass(frozen=True, kw_only=True)
class ToyParams:
    lr: float = param(0.1, low=0.0, high=1.0, low_open=True, help="Step size.")
    rate: float = param(0.5, low=0.0, high=1.0, high_open=True, help="A rate below 1.")
    width: int = param(8, low=1, high=64, help="Units.")
    count: int = param(3, low=0, help="Any non-negative count.")
    mode: str = param("a", choices=("a", "b"), help="Mode a or b.")
    flag: bool = param(False, help="A switch.")
    name: str = param("x", help="Free text.")

    def __post_init__(self) -> None:
        validate(self)


def _field(name: str) -> dataclasses.Field:
    return {f.name: f for f in dataclasses.fields(ToyParams)}[name]


# ------------------------------------------------------------------ validate


def test_defaults_are_valid() -> None:
    p = ToyParams()
    assert dataclasses.asdict(p) == {"lr": 0.1, "rate": 0.5, "width": 8, "count": 3, "mode": "a",
                          "flag": False, "name": "x"}


def test_float_field_accepts_int_and_stores_float() -> None:
    p = ToyParams(lr=1)
    assert p.lr == 1.0 and type(p.lr) is float


@pytest.mark.parametrize(("field", "value", "type_name"), [
    ("width", 2.5, "int"),
    ("width", "8", "int"),
    ("width", True, "int"),       # a bool is not an int here
    ("lr", True, "float"),
    ("lr", "0.1", "float"),
    ("flag", 1, "bool"),
    ("mode", 1, "str"),
])
def test_wrong_type_names_field_and_type(field: str, value: object, type_name: str) -> None:
    with pytest.raises(ConfigError, match=rf"`{field}` must be {type_name}, got {value!r}"):
        ToyParams(**{field: value})


def test_open_low_bound_message() -> None:
    with pytest.raises(ConfigError) as e:
        ToyParams(lr=0.0)
    msg = str(e.value)
    assert "`lr` must be in (0, 1], got 0.0." in msg
    assert "Step size." in msg  # the field's help says how to fix it


def test_closed_high_bound_is_inclusive() -> None:
    assert ToyParams(lr=1.0).lr == 1.0
    with pytest.raises(ConfigError, match=r"`lr` must be in \(0, 1\], got 1.5"):
        ToyParams(lr=1.5)


def test_open_high_bound_message() -> None:
    assert ToyParams(rate=0.0).rate == 0.0  # closed low end
    with pytest.raises(ConfigError, match=r"`rate` must be in \[0, 1\), got 1.0. A rate below 1."):
        ToyParams(rate=1.0)


def test_unbounded_high_message() -> None:
    assert ToyParams(count=10**9).count == 10**9
    with pytest.raises(ConfigError, match=r"`count` must be in \[0, inf\), got -1"):
        ToyParams(count=-1)


def test_choices_message() -> None:
    with pytest.raises(ConfigError, match=r"`mode` must be in \{a, b\}, got 'c'"):
        ToyParams(mode="c")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_outside_bounded_domains(value: float) -> None:
    with pytest.raises(ConfigError, match="`lr` must be in"):
        ToyParams(lr=value)


def test_domain_text_and_in_domain() -> None:
    assert domain_text(_field("lr")) == "(0, 1]"
    assert domain_text(_field("rate")) == "[0, 1)"
    assert domain_text(_field("count")) == "[0, inf)"
    assert domain_text(_field("mode")) == "{a, b}"
    assert domain_text(_field("name")) == "any"
    assert in_domain(_field("lr"), 1.0) and not in_domain(_field("lr"), 0.0)
    assert in_domain(_field("rate"), 0.0) and not in_domain(_field("rate"), 1.0)
    assert not in_domain(_field("lr"), math.nan)


# ------------------------------------------------------------------ coerce


@pytest.mark.parametrize(("field", "text", "expected"), [
    ("lr", "0.5", 0.5),
    ("lr", "1e-3", 1e-3),
    ("lr", "1E-3", 1e-3),
    ("width", "16", 16),
    ("width", "1e1", 10),
    ("width", "4.0", 4),
    ("mode", "b", "b"),
    ("name", "123", "123"),
    ("flag", "true", True),
    ("flag", "True", True),
    ("flag", " yes ", True),
    ("flag", "1", True),
    ("flag", "on", True),
    ("flag", "false", False),
    ("flag", "No", False),
    ("flag", "0", False),
    ("flag", "off", False),
])
def test_coerce_strings(field: str, text: str, expected: object) -> None:
    value = coerce(ToyParams, field, text)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(("field", "text", "type_name"), [
    ("lr", "abc", "float"),
    ("width", "abc", "int"),
    ("width", "2.5", "int"),
    ("width", "1e-3", "int"),   # not silently truncated to 0
    ("width", "2.5e0", "int"),  # nor to 2
    ("width", "1e999", "int"),  # inf: no OverflowError traceback
    ("width", "nan", "int"),
])
def test_coerce_rejects_bad_numbers(field: str, text: str, type_name: str) -> None:
    with pytest.raises(ConfigError, match=rf"`{field}` must be {type_name}, got '{text}'"):
        coerce(ToyParams, field, text)


def test_coerce_rejects_bad_bool() -> None:
    with pytest.raises(ConfigError, match=r"`flag` must be true or false, got 'maybe'"):
        coerce(ToyParams, "flag", "maybe")


def test_coerce_non_strings() -> None:
    assert coerce(ToyParams, "width", 4.0) == 4 and type(coerce(ToyParams, "width", 4.0)) is int
    assert coerce(ToyParams, "width", 4.5) == 4.5  # left for validate() to reject
    assert coerce(ToyParams, "lr", 1) == 1


# ------------------------------------------------------------------ from_dict / check_names


def test_from_dict_partial_and_coerced() -> None:
    p = from_dict(ToyParams, {"lr": "0.2", "width": "16", "flag": "yes"})
    assert (p.lr, p.width, p.flag, p.mode) == (0.2, 16, True, "a")


def test_from_dict_unknown_key_did_you_mean() -> None:
    with pytest.raises(UnknownNameError) as e:
        from_dict(ToyParams, {"lrr": 0.1}, where="cfg.yaml")
    msg = str(e.value)
    assert msg.startswith("cfg.yaml: `lrr` is not a parameter of ToyParams.")
    assert "Did you mean `lr`?" in msg
    assert "Its parameters: lr, rate, width, count, mode, flag, name." in msg
    assert "\n" not in msg and not msg.startswith("'")  # plain, not KeyError-quoted


def test_from_dict_unknown_key_without_close_match() -> None:
    with pytest.raises(UnknownNameError) as e:
        check_names(ToyParams, ["zzzzzz"])
    assert "Did you mean" not in str(e.value)
    assert isinstance(e.value, KeyError) and isinstance(e.value, ConfigError)


def test_from_dict_bad_value_names_where() -> None:
    with pytest.raises(ConfigError, match=r"^--set: `lr` must be in \(0, 1\], got 2.0"):
        from_dict(ToyParams, {"lr": "2"}, where="--set")


def test_describe_rows() -> None:
    rows = {r[0]: r for r in describe(ToyParams)}
    assert rows["lr"] == ("lr", "float", 0.1, "(0, 1]", "Step size.")
    assert rows["mode"][3] == "{a, b}"


def test_unsupported_field_type() -> None:
    @dataclass(frozen=True, kw_only=True)
    class Bad:
        xs: list = param(None, help="no")  # type: ignore[assignment]

        def __post_init__(self) -> None:
            validate(self)

    with pytest.raises(TypeError, match="only int/float/str/bool"):
        Bad()


# ------------------------------------------------------------------ registry


def test_did_you_mean() -> None:
    assert did_you_mean("naiv", ["ewc", "joint", "naive"]) == " Did you mean `naive`?"
    assert did_you_mean("zzz", ["ewc", "joint", "naive"]) == ""


def test_registry_unknown_name_lists_known_and_suggests() -> None:
    reg: Registry[object] = Registry("widget")
    reg.register("alpha", 1)
    reg.register("beta", 2)
    with pytest.raises(UnknownNameError) as e:
        reg.get("alpah")
    assert str(e.value) == "unknown widget `alpah`. Did you mean `alpha`? Known widgets: alpha, beta."
    assert "alpha" in reg and "gamma" not in reg
    assert reg.names() == ["alpha", "beta"]


def test_registry_duplicate_registration() -> None:
    reg: Registry[object] = Registry("widget")
    reg.register("alpha", 1)
    with pytest.raises(ConfigError, match="widget `alpha` is already registered; pass override=True"):
        reg.register("alpha", 2)
    assert reg.get("alpha") == 1
    reg.register("alpha", 3, override=True)
    assert reg.get("alpha") == 3


def test_registry_lazy_import(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("_synaptune_lazy_probe")
    module.thing = object()  # type: ignore[attr-defined]
    reg: Registry[object] = Registry("widget")
    reg.register("lazy", "_synaptune_lazy_probe:thing")
    # Registering does not import; get() does, once.
    assert "_synaptune_lazy_probe" not in sys.modules
    monkeypatch.setitem(sys.modules, "_synaptune_lazy_probe", module)
    assert reg.get("lazy") is module.thing  # type: ignore[attr-defined]
    monkeypatch.delitem(sys.modules, "_synaptune_lazy_probe")
    assert reg.get("lazy") is module.thing  # cached: no second import


def test_registry_lazy_entries_of_the_package_import_on_get() -> None:
    from synaptune.learners import LEARNERS

    assert {"ewc", "joint", "naive"} <= set(LEARNERS.names())
    cls = LEARNERS.get("naive")
    assert cls.__name__ == "NaiveLearner" and cls.params_cls.__name__ == "NaiveParams"
