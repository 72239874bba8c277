# SPDX-License-Identifier: MIT
"""Search-space YAML: parsing, every validation error, round trip, shipped files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from synaptune.exceptions import ConfigError, UnknownNameError
from synaptune.learners import LEARNERS
from synaptune.searchspaces import CategoricalDim, FloatDim, IntDim, load_space, space_path
from synaptune.searchspaces.space import parse_space

NAIVE = LEARNERS.get("naive").params_cls
SHIPPED = sorted(p.stem for p in space_path("naive").parent.glob("*.yaml"))


def parse(text: str, params_cls: type = NAIVE, learner: str = "naive"):  # noqa: ANN201
    return parse_space(yaml.safe_load(text), params_cls, learner=learner, source="s.yaml")


def error(text: str) -> str:
    with pytest.raises(ConfigError) as e:
        parse(text)
    msg = str(e.value)
    assert msg.startswith("s.yaml"), msg  # every message names the file
    assert "\n" not in msg
    return msg


VALID = """
learner: naive
params:
  lr: {float: [0.001, 0.5], log: true}
  optimizer: {categorical: [sgd, adam]}
  momentum: {float: [0.0, 0.95], when: {optimizer: sgd}}
  hidden_units: {int: [32, 256], step: 32}
  epochs: {int: [1, 5]}
  batch_size: {categorical: ["16", 32]}
  dropout: {float: [0.0, 0.5], step: 0.1, when: {optimizer: [sgd, adam]}}
fixed:
  arch: mlp
  weight_decay: "0.001"
"""


def test_parse_valid_space() -> None:
    space = parse(VALID)
    assert space.learner == "naive" and space.params_cls is NAIVE and space.source == "s.yaml"
    dims = {d.name: d for d in space.dims}
    assert [d.name for d in space.dims] == ["lr", "optimizer", "momentum", "hidden_units", "epochs",
                                            "batch_size", "dropout"]  # file order
    assert dims["lr"] == FloatDim(name="lr", low=0.001, high=0.5, log=True)
    assert dims["optimizer"] == CategoricalDim(name="optimizer", choices=("sgd", "adam"))
    assert dims["momentum"].when == {"optimizer": ("sgd",)}
    assert dims["hidden_units"] == IntDim(name="hidden_units", low=32, high=256, step=32)
    assert isinstance(dims["hidden_units"].low, int) and isinstance(dims["hidden_units"].step, int)
    assert dims["batch_size"].choices == (16, 32)  # coerced to the field's type
    assert dims["dropout"].when == {"optimizer": ("sgd", "adam")}
    assert dims["dropout"].step == 0.1
    assert space.fixed == {"arch": "mlp", "weight_decay": 0.001}
    built = space.build({"lr": 0.2, "epochs": 2})
    assert (built.lr, built.epochs, built.weight_decay, built.arch) == (0.2, 2, 0.001, "mlp")


def test_sampled_value_overrides_nothing_but_defaults() -> None:
    space = parse("params: {lr: {float: [0.01, 0.1]}}\nfixed: {epochs: 2}")
    assert space.build({}).lr == NAIVE().lr
    assert space.build({}).epochs == 2


def test_inclusive_bounds_kept_even_on_the_domain_edge() -> None:
    # dropout's domain is [0, 1): 0 is allowed as a low bound; lr's is (0, 10]: 10 is allowed as high.
    space = parse("params: {dropout: {float: [0.0, 0.99]}, lr: {float: [0.5, 10]}, "
                  "hidden_layers: {int: [1, 8]}}")
    dims = {d.name: d for d in space.dims}
    assert (dims["dropout"].low, dims["dropout"].high) == (0.0, 0.99)
    assert (dims["lr"].low, dims["lr"].high) == (0.5, 10.0)
    assert (dims["hidden_layers"].low, dims["hidden_layers"].high) == (1, 8)


def test_when_condition() -> None:
    d = parse(VALID).dims[2]
    assert d.active({"optimizer": "sgd"})
    assert not d.active({"optimizer": "adam"})
    assert not d.active({})


def test_when_on_a_fixed_parameter() -> None:
    space = parse("params: {momentum: {float: [0, 0.9], when: {optimizer: [sgd]}}}\nfixed: {optimizer: sgd}")
    assert space.dims[0].when == {"optimizer": ("sgd",)}


def test_when_values_are_coerced() -> None:
    space = parse("params: {epochs: {int: [1, 3]}, lr: {float: [0.01, 0.1], when: {epochs: ['1', 2]}}}")
    assert space.dims[1].when == {"epochs": (1, 2)}
    assert space.dims[1].active({"epochs": 1}) and not space.dims[1].active({"epochs": 3})


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(("text", "expected"), [
    # unknown parameter, with did-you-mean and the field list
    ("params: {lrr: {float: [0.01, 0.1]}}",
     "s.yaml: params: `lrr` is not a parameter of NaiveParams. Did you mean `lr`? Its parameters: hidden_units,"),
    ("fixed: {epoch: 2}", "s.yaml: fixed: `epoch` is not a parameter of NaiveParams. Did you mean `epochs`?"),
    # ranges
    ("params: {lr: {float: [0.1, 0.1]}}", "s.yaml: `lr`: range [0.1, 0.1] is empty; low must be below high."),
    ("params: {lr: {float: [0.5, 0.1]}}", "s.yaml: `lr`: range [0.5, 0.1] is inverted; low must be below high."),
    ("params: {epochs: {int: [3, 3]}}", "range [3, 3] is empty"),
    ("params: {epochs: {int: [5, 1]}}", "range [5, 1] is inverted"),
    ("params: {weight_decay: {float: [0, 0.1], log: true}}",
     "s.yaml: `weight_decay`: log range [0, 0.1] touches 0 or below; a log scale needs low > 0"),
    ("params: {weight_decay: {float: [-1, 0.1], log: true}}", "touches 0 or below"),
    ("params: {lr: {float: [0, 0.5]}}", "s.yaml: `lr`: range [0, 0.5] leaves the domain (0, 10] of `lr`."),
    ("params: {dropout: {float: [0, 1]}}", "leaves the domain [0, 1) of `dropout`"),
    ("params: {hidden_layers: {int: [1, 9]}}", "leaves the domain [1, 8] of `hidden_layers`"),
    ("params: {lr: {float: [0.001, .inf]}}", "bounds must be finite numbers"),
    ("params: {lr: {float: [.nan, 1]}}", "bounds must be finite numbers"),
    ("params: {lr: {float: [a, b]}}", "bounds must be numbers"),
    ("params: {lr: {float: [0.1]}}", "`float` needs [low, high]"),
    ("params: {epochs: {int: [1, 2.5]}}", "int bounds must be whole numbers"),
    ("params: {hidden_units: {float: [1, 3]}}", "`float` range on a int field; use int"),
    ("params: {optimizer: {int: [1, 3]}}", "`int` range on a str field; use categorical"),
    # step / log
    ("params: {lr: {float: [0.001, 0.1], log: true, step: 0.01}}", "`step` and `log` cannot be combined"),
    ("params: {epochs: {int: [1, 8], log: true, step: 2}}", "`step` and `log` cannot be combined"),
    ("params: {epochs: {int: [1, 5], step: 0.5}}", "an int `step` must be a whole number"),
    ("params: {epochs: {int: [1, 5], step: 0}}", "`step` must be a positive number"),
    ("params: {epochs: {int: [1, 5], step: true}}", "`step` must be a positive number"),
    ("params: {lr: {float: [0.01, 0.1], log: 'false'}}", "`log` must be true or false"),
    # shape of an entry
    ("params: {lr: 0.1}", "expected a mapping such as"),
    ("params: {lr: {float: [0.01, 0.1], categorical: [0.1]}}", "give exactly one of float / int / categorical"),
    ("params: {lr: {uniform: [0.01, 0.1]}}", "give exactly one of float / int / categorical"),
    ("params: {lr: {float: [0.01, 0.1], logg: true}}", "unknown option(s) ['logg']"),
    ("params: {optimizer: {categorical: [sgd, adam], log: true}}", "unknown option(s) ['log'] for `categorical`"),
    ("params: {optimizer: {categorical: []}}", "`categorical` needs a non-empty list"),
    # categorical choice and fixed value outside the domain
    ("params: {optimizer: {categorical: [sgd, rmsprop]}}",
     "s.yaml: `optimizer`: choice 'rmsprop' is outside the domain {sgd, adam}."),
    ("params: {batch_size: {categorical: [16, 0]}}", "choice 0 is outside the domain [1, inf)"),
    ("params: {batch_size: {categorical: [16, big]}}", "`batch_size` must be int, got 'big'"),
    ("fixed: {optimizer: rmsprop}", "s.yaml: fixed `optimizer` = 'rmsprop' is outside its domain {sgd, adam}."),
    ("fixed: {lr: 0}", "fixed `lr` = 0 is outside its domain (0, 10]"),
    ("fixed: {lr: abc}", "s.yaml: fixed: `lr` must be float, got 'abc'."),
    ("fixed: {epochs: 1.5}", "s.yaml: `epochs` must be int, got 1.5"),
    # `when`
    ("params: {momentum: {float: [0, 0.9], when: {optimiser: sgd}}}",
     "s.yaml: `momentum` has a `when` on `optimiser`, which is neither sampled nor fixed in this space "
     "(it is not a parameter of NaiveParams. Did you mean `optimizer`?"),
    ("params: {momentum: {float: [0, 0.9], when: {optimizer: sgd}}}",
     "`momentum` has a `when` on `optimizer`, which is neither sampled nor fixed in this space."),
    ("params: {momentum: {float: [0, 0.9], when: {optimizer: sgd}}, optimizer: {categorical: [sgd, adam]}}",
     "`momentum` has a `when` on `optimizer`, which is sampled after it; list `optimizer` before `momentum`"),
    ("params: {lr: {float: [0.01, 0.1], when: {lr: 0.05}}}", "`lr` has a `when` on itself"),
    ("params: {optimizer: {categorical: [sgd, adam]}, momentum: {float: [0, 0.9], when: {optimizer: sgdd}}}",
     "`momentum` has `when: {optimizer: 'sgdd'}`, but `optimizer` takes values in {sgd, adam}; "
     "`momentum` would never be sampled."),
    ("params: {epochs: {int: [1, 3]}, lr: {float: [0.01, 0.1], when: {epochs: [1, 7]}}}",
     "`epochs` takes values in [1, 3]"),
    ("params: {momentum: {float: [0, 0.9], when: [optimizer]}}", "`when` must map parameter names to values"),
    # document shape
    ("[1, 2]", "a search space is a mapping"),
    ("params: [lr]", "`params` and `fixed` must be mappings"),
    ("learner: naive\nextras: {}", "unknown top-level key(s) ['extras']"),
    ("learner: ewc", "this space is for learner `ewc`, not `naive`."),
    ("params: {lr: {float: [0.01, 0.1]}}\nfixed: {lr: 0.05}", "['lr'] both sampled and fixed"),
])
def test_errors(text: str, expected: str) -> None:
    assert expected in error(text)


def test_unknown_param_is_an_unknown_name_error() -> None:
    with pytest.raises(UnknownNameError):
        parse("params: {lrr: {float: [0.01, 0.1]}}")


def test_fixed_value_checked_with_the_other_fields() -> None:
    # multi_head is valid on its own; the learner rejects it only with a scenario, so it builds here
    assert parse("fixed: {multi_head: true}").fixed == {"multi_head": True}


# ------------------------------------------------------------------ files


def test_load_space_file(tmp_path: Path) -> None:
    f = tmp_path / "space.yaml"
    f.write_text(VALID)
    space = load_space("naive", f)
    assert space.source == str(f) and len(space.dims) == 7


def test_load_space_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist. Give an existing YAML file to --space"):
        load_space("naive", tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("params: {lr: {float: [1, 2}\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_space("naive", bad)
    with pytest.raises(UnknownNameError, match="unknown learner `naiv`. Did you mean `naive`?"):
        load_space("naiv")


def test_to_yaml_round_trip() -> None:
    space = parse(VALID)
    again = parse(space.to_yaml())
    assert again.dims == space.dims
    assert again.fixed == space.fixed
    assert again.learner == space.learner


def test_shipped_spaces_exist_for_every_learner() -> None:
    assert SHIPPED == LEARNERS.names()


@pytest.mark.parametrize("learner", SHIPPED)
def test_shipped_space_validates_and_round_trips(learner: str) -> None:
    space = load_space(learner)
    assert space.learner == learner and space.dims
    assert space.source == str(space_path(learner))
    again = parse_space(yaml.safe_load(space.to_yaml()), space.params_cls, learner=learner)
    assert again.dims == space.dims and again.fixed == space.fixed
    # The low and the high corner of every numeric dimension builds.
    for pick in ("low", "high"):
        sample = {d.name: (d.choices[0] if d.kind == "categorical" else
                           (int if d.kind == "int" else float)(getattr(d, pick)))
                  for d in space.dims}
        space.build(sample)


@pytest.mark.parametrize("learner", ["naive", "satsom", "sparse-mlp", "hebbian", "sommask-cnn"])
def test_each_dimension_samples_logs_and_writes_itself(learner: str) -> None:
    """The searcher, the report and the file format go through the dimension's own methods: a sampled
    value is in its Optuna distribution, reads back from its logged text, and the YAML parses back."""
    import random

    import yaml

    from synaptune.searchspaces.space import parse_space

    space = load_space(learner)
    rng = random.Random(0)
    for d in space.dims:
        for _ in range(20):
            value = d.sample(rng)
            assert d.contains(value), (d.name, value)
            assert d.to_optuna()._contains(d.to_optuna().to_internal_repr(value)), (d.name, value)
            assert d.parse_logged(str(value)) == value, (d.name, value)
            assert 0.0 <= d.position(value) <= 1.0
        assert d.contains(d.largest())
    again = parse_space(yaml.safe_load(space.to_yaml()), space.params_cls, learner=learner)
    assert again.dims == space.dims
