# SPDX-License-Identifier: MIT
"""Search-space YAML: parse, validate against a learner's Params, sample.

Format (bounds inclusive, as in Optuna)::

    learner: naive
    params:                                   # sampled, in this order
      lr:        {float: [0.001, 0.5], log: true}
      epochs:    {int: [1, 5], step: 1}       # or log: true
      optimizer: {categorical: [sgd, adam]}
      momentum:  {float: [0.0, 0.95], when: {optimizer: sgd}}   # conditional
    fixed:                                    # not sampled; overrides defaults
      batch_size: 32

A ``when`` maps earlier-sampled (or fixed) parameter names to a value or a list
of accepted values; the dimension is sampled only when all of them match,
otherwise the field keeps its default.

A parameter whose *range* depends on another one is written as a list of
alternatives, each with its own ``when``; the one whose ``when`` holds is sampled::

    params:
      optimizer: {categorical: [sgd, adam]}
      lr:                                       # Adam wants smaller steps than SGD
        - {float: [0.001, 0.5], log: true, when: {optimizer: sgd}}
        - {float: [0.0001, 0.01], log: true, when: {optimizer: adam}}

Every alternative needs a ``when``, and no two may hold together: some parameter
they both name must take different values in them (``{optimizer: sgd}`` and
``{optimizer: adam}``), so a point never has two ranges for one parameter. The
alternatives of one parameter are of one kind (all ``float``, all ``int`` or all
``categorical``), and ranges are all ``log`` or all linear, so a report can put
every trial of the parameter on one axis (:meth:`SearchSpace.overall`).

``SearchSpace.dims`` holds every dimension, alternatives included (one
:class:`Dim` each, sharing the parameter's ``name``, in file order);
:meth:`SearchSpace.active_dim` finds the one in force for given values. Optuna
knows each alternative by its own name (:attr:`Dim.optuna_name`, e.g.
``lr|optimizer=adam``): its storage refuses one name with another ``log`` or
other choices across trials, and TPE would pool the values drawn from
different ranges into one density. Points handed to the learner (a sample, a
Ray Tune trial's config, MLflow params) use the plain name ``lr``.
"""

from __future__ import annotations

import abc
import dataclasses
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from synaptune._registry import did_you_mean
from synaptune.exceptions import ConfigError
from synaptune.params import read_yaml, check_names, coerce, domain_text, field_types, in_domain



@dataclass(frozen=True, kw_only=True)
class Dim(abc.ABC):
    """One sampled parameter: :class:`FloatDim`, :class:`IntDim` or :class:`CategoricalDim`.

    Each kind knows how Optuna samples it (:meth:`to_optuna`, :meth:`suggest`), how it is
    written in the YAML file (:meth:`to_yaml`) and how a value logged to MLflow as text
    reads back (:meth:`parse_logged`), so the searcher, the report and the tests need no
    switch on the kind.

    Attributes:
        name: the Params field.
        when: conditions ``{param: [accepted values]}`` on other parameters.
        alternative: for one of several alternatives of ``name`` (a list in the YAML file), its
            ``when`` as text (``optimizer=adam``), which makes its Optuna name; empty otherwise.
    """

    #: ``float``, ``int`` or ``categorical``: the key of the dimension in the YAML file.
    kind: ClassVar[str]

    name: str
    when: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    alternative: str = ""

    @property
    def optuna_name(self) -> str:
        """The name Optuna samples this dimension under: ``name``, or ``name|alternative`` for one of
        several alternatives (Optuna needs one distribution per name; see the module docstring)."""
        return f"{self.name}|{self.alternative}" if self.alternative else self.name

    def active(self, values: dict[str, Any]) -> bool:
        """Whether the ``when`` conditions hold for the values chosen so far."""
        return all(values.get(k) in accepted for k, accepted in self.when.items())

    @abc.abstractmethod
    def sample(self, rng: random.Random) -> Any:
        """A value drawn at random (uniform, or log-uniform with ``log``; on the ``step`` grid)."""
        ...

    @abc.abstractmethod
    def to_optuna(self) -> Any:
        """The Optuna distribution this dimension is sampled from."""
        ...

    @abc.abstractmethod
    def suggest(self, trial: Any) -> Any:
        """The value an ``optuna.Trial`` suggests for this dimension."""
        ...

    def to_yaml(self) -> dict[str, Any]:
        """The dimension's entry under ``params`` in the file format."""
        spec = self._yaml_spec()
        if self.when:
            spec["when"] = {k: list(v) if len(v) > 1 else v[0] for k, v in self.when.items()}
        return spec

    @abc.abstractmethod
    def _yaml_spec(self) -> dict[str, Any]:
        ...

    @abc.abstractmethod
    def parse_logged(self, raw: str) -> Any:
        """A value logged as text (an MLflow param) back to this dimension's type; ValueError if it is not one."""
        ...

    @abc.abstractmethod
    def contains(self, value: Any) -> bool:
        """Whether the dimension can take ``value``."""
        ...

    @abc.abstractmethod
    def values_text(self) -> str:
        """What the dimension can take, for messages: ``{a, b}`` or ``[low, high]``."""
        ...

    @abc.abstractmethod
    def largest(self) -> Any:
        """The value that makes the largest model when the knob sizes it: the top of a range, the last choice."""
        ...

    @abc.abstractmethod
    def position(self, value: Any) -> float:
        """Where ``value`` sits on the dimension, in [0, 1] (log-scaled with ``log``; choices evenly spaced)."""
        ...

    @abc.abstractmethod
    def ticks(self) -> list[tuple[float, str]]:
        """``(position, label)`` of the values an axis of this dimension is labelled with."""
        ...


@dataclass(frozen=True, kw_only=True)
class RangeDim(Dim):
    """A number in ``[low, high]`` (inclusive), uniform or log-uniform, optionally on a ``step`` grid."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def sample(self, rng: random.Random) -> Any:
        low, high = float(self.low), float(self.high)
        if self.step is not None:
            value = low + self.step * rng.randint(0, int((high - low) // self.step))
        elif self.log:
            value = math.exp(rng.uniform(math.log(low), math.log(high)))
        else:
            value = self._uniform(rng, low, high)
        return self._clip(value, low, high)

    def _uniform(self, rng: random.Random, low: float, high: float) -> float:
        return rng.uniform(low, high)

    def _clip(self, value: float, low: float, high: float) -> Any:
        return min(max(value, low), high)

    def _yaml_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {self.kind: [self.low, self.high]}
        if self.log:
            spec["log"] = True
        if self.step is not None:
            spec["step"] = self.step
        return spec

    def contains(self, value: Any) -> bool:
        return bool(self.low <= value <= self.high)

    def values_text(self) -> str:
        return f"[{self.low:g}, {self.high:g}]"

    def largest(self) -> Any:
        return self.high

    def position(self, value: Any) -> float:
        low, high, v = float(self.low), float(self.high), float(value)
        if self.log:
            low, high, v = math.log(low), math.log(high), math.log(v)
        return (v - low) / (high - low) if high > low else 0.5

    def ticks(self) -> list[tuple[float, str]]:
        return [(0.0, f"{self.low:.3g}"), (1.0, f"{self.high:.3g}")]


@dataclass(frozen=True, kw_only=True)
class FloatDim(RangeDim):
    """A float in ``[low, high]``."""

    kind: ClassVar[str] = "float"

    def to_optuna(self) -> Any:
        import optuna

        return optuna.distributions.FloatDistribution(float(self.low), float(self.high), step=self.step,
                                                      log=self.log)

    def suggest(self, trial: Any) -> Any:
        return trial.suggest_float(self.optuna_name, self.low, self.high, step=self.step, log=self.log)

    def parse_logged(self, raw: str) -> Any:
        return float(raw)


@dataclass(frozen=True, kw_only=True)
class IntDim(RangeDim):
    """An int in ``[low, high]`` (``step`` 1 unless given)."""

    kind: ClassVar[str] = "int"

    def _uniform(self, rng: random.Random, low: float, high: float) -> float:
        return rng.randint(int(low), int(high))

    def _clip(self, value: float, low: float, high: float) -> Any:
        return int(round(value))

    def to_optuna(self) -> Any:
        import optuna

        return optuna.distributions.IntDistribution(int(self.low), int(self.high), step=int(self.step or 1),
                                                    log=self.log)

    def suggest(self, trial: Any) -> Any:
        return trial.suggest_int(self.optuna_name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)

    def parse_logged(self, raw: str) -> Any:
        return int(float(raw))

    def largest(self) -> Any:
        return int(self.high)

    def ticks(self) -> list[tuple[float, str]]:
        return [(0.0, str(int(self.low))), (1.0, str(int(self.high)))]


@dataclass(frozen=True, kw_only=True)
class CategoricalDim(Dim):
    """One of ``choices``."""

    kind: ClassVar[str] = "categorical"
    #: Choices are never on a log scale (read by axis labels beside the ranges' ``log``).
    log: ClassVar[bool] = False

    choices: tuple[Any, ...]

    def sample(self, rng: random.Random) -> Any:
        return rng.choice(self.choices)

    def to_optuna(self) -> Any:
        import optuna

        return optuna.distributions.CategoricalDistribution(list(self.choices))

    def suggest(self, trial: Any) -> Any:
        return trial.suggest_categorical(self.optuna_name, list(self.choices))

    def _yaml_spec(self) -> dict[str, Any]:
        return {"categorical": list(self.choices)}

    def parse_logged(self, raw: str) -> Any:
        for choice in self.choices:
            if str(choice) == raw:
                return choice
        raise ValueError(f"`{self.name}` = {raw!r} is not one of {list(self.choices)}")

    def contains(self, value: Any) -> bool:
        return value in self.choices

    def values_text(self) -> str:
        return "{" + ", ".join(map(str, self.choices)) + "}"

    def largest(self) -> Any:
        return self.choices[-1]

    def position(self, value: Any) -> float:
        n = len(self.choices)
        return self.choices.index(value) / (n - 1) if n > 1 else 0.5

    def ticks(self) -> list[tuple[float, str]]:
        return [(self.position(c), str(c)) for c in self.choices]


#: The dimension class of each kind, as named in the YAML file.
DIM_KINDS: dict[str, type[Dim]] = {cls.kind: cls for cls in (FloatDim, IntDim, CategoricalDim)}


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space of one learner.

    Attributes:
        learner: registered learner name.
        params_cls: the learner's Params dataclass.
        dims: sampled dimensions, in file order; a parameter with alternatives has one per
            alternative, next to each other (:attr:`names` lists each parameter once).
        fixed: values that override the defaults and are not sampled.
        source: where it was read from (for messages and MLflow).
    """

    learner: str
    params_cls: type
    dims: tuple[Dim, ...]
    fixed: dict[str, Any]
    source: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """The sampled parameters, each once, in file order."""
        return tuple(dict.fromkeys(d.name for d in self.dims))

    def alternatives(self, name: str) -> tuple[Dim, ...]:
        """The dimensions of parameter ``name``: one, or its alternatives (none if it is not sampled)."""
        return tuple(d for d in self.dims if d.name == name)

    def active_dim(self, name: str, values: dict[str, Any]) -> Dim | None:
        """The dimension of ``name`` in force for ``values`` (the parameters chosen so far, fixed
        ones included), or None when none of its ``when`` conditions holds (the field keeps its
        default). Alternatives never hold together (checked when the space is read)."""
        return next((d for d in self.alternatives(name) if d.active(values)), None)

    def overall(self, name: str) -> Dim:
        """One dimension spanning every alternative of ``name``: the union of their ranges (no
        ``step``) or of their choices, with no ``when``. For views that put all trials of a parameter
        on one axis (report figures, importances) or want its extremes (largest model, value text).

        Raises:
            KeyError: ``name`` is not sampled.
        """
        dims = self.alternatives(name)
        if not dims:
            raise KeyError(name)
        if len(dims) == 1:
            return dims[0]
        first = dims[0]
        if isinstance(first, CategoricalDim):
            choices = tuple(dict.fromkeys(c for d in dims for c in d.choices))  # type: ignore[attr-defined]
            return CategoricalDim(name=name, choices=choices)
        lows = [d.low for d in dims]  # type: ignore[attr-defined]
        highs = [d.high for d in dims]  # type: ignore[attr-defined]
        return type(first)(name=name, low=min(lows), high=max(highs), log=first.log)  # type: ignore[call-arg]

    def sample(self, rng: random.Random) -> dict[str, Any]:
        """A random point of the space (``when`` honoured, alternatives by their ``when``; ``fixed``
        values not included), keyed by parameter name."""
        values: dict[str, Any] = dict(self.fixed)
        point = {}
        for d in self.dims:
            if d.active(values):
                values[d.name] = point[d.name] = d.sample(rng)
        return point

    def build(self, sample: dict[str, Any]) -> Any:
        """Params instance from a sample (sampled values override ``fixed``)."""
        return self.params_cls(**{**self.fixed, **sample})

    def with_fixed(self, values: dict[str, Any], *, where: str = "--set") -> SearchSpace:
        """This space with each of ``values`` held fixed: taken out of the sampled dimensions (or added,
        if the space did not have it) and put under ``fixed``, overriding a fixed value of the file.

        ``values`` (often strings, from ``--set NAME=VALUE``) are converted and checked by the
        learner's Params class with the space's other fixed values and the defaults
        (:func:`~synaptune.params.from_dict`); a value outside the dimension's range is allowed.
        A ``when`` on a parameter now fixed is kept: it is checked against the fixed value.
        A parameter with alternatives loses them all.

        Raises:
            ConfigError: a name that is not a parameter (naming the parameters), a value of the
                wrong type or outside the field's domain, or fixed values the Params refuse together.
        """
        from synaptune.params import from_dict

        if not values:
            return self
        check_names(self.params_cls, values, where=where)
        built = from_dict(self.params_cls, {**self.fixed, **values}, where=where)
        fixed = {**self.fixed, **{name: getattr(built, name) for name in values}}
        dims = tuple(d for d in self.dims if d.name not in values)
        return dataclasses.replace(self, dims=dims, fixed=fixed)

    def to_yaml(self) -> str:
        """The space as YAML text, in the file format (for printing and MLflow)."""
        params: dict[str, Any] = {}
        for name in self.names:
            dims = self.alternatives(name)
            params[name] = dims[0].to_yaml() if len(dims) == 1 else [
                d.to_yaml() for d in dims]
        doc = {"learner": self.learner, "params": params, "fixed": dict(self.fixed)}
        return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)


def space_path(learner: str) -> Path:
    """Path of the search space shipped for ``learner``: synaptune's own, or the ``space_file``
    of a learner from another package (a path that may not exist: callers check)."""
    shipped = Path(__file__).with_name(f"{learner}.yaml")
    if shipped.exists():
        return shipped
    from synaptune.learners import LEARNERS

    own = getattr(LEARNERS.get(learner), "space_file", None)
    return Path(own) if own is not None else shipped


def load_space(learner: str, path: str | Path | None = None) -> SearchSpace:
    """Read and validate a search space.

    Args:
        learner: registered learner name; the file's ``learner:`` must match.
        path: a YAML file; ``None`` reads the one shipped for ``learner``.

    Raises:
        ConfigError: unreadable file, unknown parameter (with did-you-mean),
            empty or inverted range, log range touching 0, range outside the
            field's domain, ``when`` on an unknown parameter.
    """
    from synaptune.learners import params_of

    params_cls = params_of(learner)
    src = Path(path) if path is not None else space_path(learner)
    doc = read_yaml(src, what="search space", hint="Give an existing YAML file to --space.",
                    example=f"`synaptune space {learner}` prints one to start from")
    return parse_space(doc, params_cls, learner=learner, source=str(src))


def parse_space(doc: Any, params_cls: type, *, learner: str, source: str = "<space>") -> SearchSpace:
    """Validate a parsed YAML document (see module docstring) into a SearchSpace."""
    raw_params, fixed_raw = _split_doc(doc, params_cls, learner, source)
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    types = field_types(params_cls)
    fixed = _parse_fixed(fixed_raw, fields, params_cls, source)
    dims = []
    for name, spec in raw_params.items():
        for where, one in _alternative_specs(name, spec, source):
            dims.append(_parse_dim(name, one, fields[name], types[name], params_cls, source, where=where))
    _check_alternative_kinds(dims, source)
    by_name = {name: SearchSpace(learner, params_cls, tuple(dims), {}).overall(name) for name in raw_params}
    for i, d in enumerate(dims):
        earlier = {e.name for e in dims[:i]}
        when = {}
        for cond, accepted in d.when.items():
            _check_condition(d.name, cond, earlier, fixed, by_name, fields, params_cls, source)
            when[cond] = _condition_values(d.name, cond, accepted, by_name.get(cond), fields[cond],
                                           params_cls, source)
        dims[i] = dataclasses.replace(d, when=when)
    dims = _name_alternatives(dims, source)
    space = SearchSpace(learner, params_cls, tuple(dims), fixed, source)
    # The fixed values with every other field at its default must build: catches
    # cross-field constraints early.
    try:
        space.build({})
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    return space


def _alternative_specs(name: str, spec: Any, source: str) -> list[tuple[str, Any]]:
    """The dimension mappings of one entry under ``params``, each with where it is for messages:
    the mapping itself, or each mapping of a list of alternatives, which must all have a ``when``."""
    if not isinstance(spec, list):
        return [(f"{source}: `{name}`", spec)]
    example = (f"e.g. `{name}: [{{float: [0.001, 0.5], when: {{optimizer: sgd}}}}, "
               f"{{float: [0.0001, 0.01], when: {{optimizer: adam}}}}]`")
    if not spec:
        raise ConfigError(f"{source}: `{name}` is an empty list; give one dimension mapping, or a list of "
                          f"alternatives each with a `when` ({example}).")
    specs = []
    for i, one in enumerate(spec, 1):
        where = f"{source}: `{name}` alternative {i}"
        if not isinstance(one, dict) or not one.get("when"):
            raise ConfigError(f"{where} has no `when`; each alternative of a parameter says when it is "
                              f"sampled ({example}), or write `{name}` as a single mapping.")
        specs.append((where, one))
    return specs


def _check_alternative_kinds(dims: list[Dim], source: str) -> None:
    """Refuse alternatives of one parameter of different kinds, or ranges on different scales."""
    for i, a in enumerate(dims):
        b = next((d for d in dims[:i] if d.name == a.name), None)  # the parameter's first alternative
        if b is None:
            continue
        where = f"{source}: `{a.name}` alternatives"
        if a.kind != b.kind:
            raise ConfigError(f"{where} mix `{b.kind}` and `{a.kind}`; give every alternative of one "
                              "parameter the same kind, so every trial of it fits one axis.")
        if a.log != b.log:  # type: ignore[attr-defined]
            raise ConfigError(f"{where} mix `log: true` and a linear range; give every alternative of "
                              f"`{a.name}` the same `log` (Optuna refuses one parameter on two scales).")


def _name_alternatives(dims: list[Dim], source: str) -> list[Dim]:
    """Refuse alternatives of one parameter whose ``when`` can hold together, and give each
    alternative its Optuna name (:attr:`Dim.optuna_name`)."""
    out: list[Dim] = []
    for name in dict.fromkeys(d.name for d in dims):
        alts = [d for d in dims if d.name == name]
        if len(alts) == 1:
            out.append(alts[0])
            continue
        for i, a in enumerate(alts):
            for j, b in enumerate(alts[:i]):
                _check_exclusive(name, j + 1, b, i + 1, a, source)
        named = [dataclasses.replace(d, alternative=_when_text(d.when)) for d in alts]
        keys = [d.optuna_name for d in named]
        if len(set(keys)) < len(keys):  # only when values differ just by a `/` made `_`
            raise ConfigError(f"{source}: `{name}`: alternatives get the same Optuna name ({keys}); "
                              "write their `when` values apart.")
        out.extend(named)
    return out


def _check_exclusive(name: str, i: int, a: Dim, j: int, b: Dim, source: str) -> None:
    """Refuse alternatives ``i`` and ``j`` of ``name`` unless some parameter both ``when``s name
    takes different values in them (otherwise a point could give ``name`` two ranges)."""
    shared = set(a.when) & set(b.when)
    if any(not set(a.when[k]) & set(b.when[k]) for k in shared):
        return

    def together(k: str) -> Any:  # a value of `k` under which both can hold
        if k in shared:
            return next(v for v in a.when[k] if v in b.when[k])
        return (a.when.get(k) or b.when[k])[0]

    example = ", ".join(f"{k}={together(k)!r}" for k in {**a.when, **b.when})
    raise ConfigError(f"{source}: `{name}` alternatives {i} and {j} can both hold (e.g. {example}), which "
                      f"would give `{name}` two ranges; make their `when`s exclusive: name one parameter "
                      "in both, with different values (e.g. {optimizer: sgd} and {optimizer: adam}).")


def _when_text(when: dict[str, tuple]) -> str:
    """``when`` as text for an Optuna name: ``optimizer=adam``, ``a=1,2&b=x`` (no ``/``, which Ray
    Tune would read as a nested key)."""
    return "&".join(f"{k}=" + ",".join(str(v) for v in vals) for k, vals in when.items()).replace("/", "_")


def _split_doc(doc: Any, params_cls: type, learner: str, source: str) -> tuple[dict, dict]:
    """Check the document's top level and return its ``params`` and ``fixed`` mappings."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: a search space is a mapping with `learner`, `params`, `fixed`.")
    unknown_top = set(doc) - {"learner", "params", "fixed"}
    if unknown_top:
        raise ConfigError(f"{source}: unknown top-level key(s) {sorted(unknown_top)}; "
                          "allowed: learner, params, fixed.")
    if doc.get("learner", learner) != learner:
        raise ConfigError(f"{source}: this space is for learner `{doc['learner']}`, not `{learner}`.")
    raw_params = doc.get("params") or {}
    fixed_raw = doc.get("fixed") or {}
    if not isinstance(raw_params, dict) or not isinstance(fixed_raw, dict):
        raise ConfigError(f"{source}: `params` and `fixed` must be mappings of parameter names.")
    check_names(params_cls, raw_params, where=f"{source}: params")
    check_names(params_cls, fixed_raw, where=f"{source}: fixed")
    both = set(raw_params) & set(fixed_raw)
    if both:
        raise ConfigError(f"{source}: {sorted(both)} both sampled and fixed; keep one.")
    return raw_params, fixed_raw


def _parse_fixed(fixed_raw: dict, fields: dict[str, dataclasses.Field], params_cls: type,
                 source: str) -> dict[str, Any]:
    """The ``fixed`` values, coerced to their fields' types and checked against their domains."""
    fixed = {}
    for name, value in fixed_raw.items():
        value = _coerce(params_cls, name, value, f"{source}: fixed")
        if not in_domain(fields[name], value):
            raise ConfigError(f"{source}: fixed `{name}` = {value!r} is outside its domain {domain_text(fields[name])}.")
        fixed[name] = value
    return fixed


def _check_condition(name: str, cond: str, earlier: set[str], fixed: dict[str, Any], by_name: dict[str, Dim],
                     fields: dict[str, dataclasses.Field], params_cls: type, source: str) -> None:
    """Refuse a ``when`` of dimension ``name`` on ``cond`` unless ``cond`` is fixed or sampled before it."""
    if cond == name:
        raise ConfigError(f"{source}: `{name}` has a `when` on itself; condition on another parameter.")
    if cond in earlier or cond in fixed:
        return
    if cond in by_name:  # sampled, but at or after this dimension: it would never be active
        raise ConfigError(f"{source}: `{name}` has a `when` on `{cond}`, which is sampled "
                          f"after it; list `{cond}` before `{name}` under params.")
    all_fields = list(fields)
    hint = "" if cond in fields else (
        f" (it is not a parameter of {params_cls.__name__}.{did_you_mean(cond, all_fields)}"
        f" Its parameters: {', '.join(all_fields)})")
    raise ConfigError(f"{source}: `{name}` has a `when` on `{cond}`, which is neither sampled "
                      f"nor fixed in this space{hint}.")


def _condition_values(name: str, cond: str, accepted: tuple, cdim: Dim | None, cfield: dataclasses.Field,
                      params_cls: type, source: str) -> tuple:
    """The values ``accepted`` for ``cond`` in the ``when`` of ``name``, typed and each one reachable."""
    # A value the condition can never take would silently disable the dimension.
    accepted = tuple(_typed(params_cls, cond, v, f"{source}: `{name}`: when", f"`{cond}` value")
                     for v in accepted)
    if cdim is None:
        allowed, ok = domain_text(cfield), (lambda v, f=cfield: in_domain(f, v))
    else:
        allowed, ok = cdim.values_text(), cdim.contains
    for v in accepted:
        if not ok(v):
            raise ConfigError(f"{source}: `{name}` has `when: {{{cond}: {v!r}}}`, but `{cond}` "
                              f"takes values in {allowed}; `{name}` would never be sampled.")
    return accepted


def _coerce(params_cls: type, name: str, value: Any, where: str) -> Any:
    """:func:`coerce`, with ``where`` (file and key) in front of its error."""
    try:
        return coerce(params_cls, name, value)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def _typed(params_cls: type, name: str, value: Any, where: str, what: str) -> Any:
    """:func:`_coerce`, then refuse a value of the wrong type for field ``name`` (a boolean is no
    int or float, a number no string), which the learner's Params would only refuse inside a trial."""
    value = _coerce(params_cls, name, value, where)
    want = field_types(params_cls)[name]
    if want is bool:
        ok = isinstance(value, bool)
    elif want is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, want) and not isinstance(value, bool)
    if not ok:
        def a(kind: str) -> str:
            return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"

        got = "a boolean" if isinstance(value, bool) else a(type(value).__name__)
        raise ConfigError(f"{where}: {what} {value!r} is {got}, but `{name}` is {a(want.__name__)} field.")
    return value


def _parse_dim(name: str, spec: Any, f: dataclasses.Field, ftype: type, params_cls: type, source: str, *,
               where: str) -> Dim:
    """One dimension mapping of ``name`` (an entry under ``params``, or one of its alternatives): its
    kind and ``when``, then its choices or its range; ``where`` starts its errors."""
    kind = _dim_kind(spec, where)
    when = _parse_when(spec, where)
    if kind == "categorical":
        choices = _parse_choices(name, spec["categorical"], f, params_cls, where)
        return CategoricalDim(name=name, choices=choices, when=when)
    bounds = spec[kind]
    low, high = _parse_range(kind, bounds, ftype, where)
    log = _parse_log(spec.get("log", False), low, bounds, where)
    step = _parse_step(name, kind, spec.get("step"), log, low, high, bounds, where)
    for bound in (low, high):
        if not in_domain(f, ftype(bound)):
            raise ConfigError(f"{where}: range [{bounds[0]}, {bounds[1]}] leaves the domain "
                              f"{domain_text(f)} of `{name}`.")
    return DIM_KINDS[kind](name=name, low=low, high=high, log=log,  # type: ignore[call-arg]
                           step=int(step) if kind == "int" and step is not None else step, when=when)


def _dim_kind(spec: Any, where: str) -> str:
    """The one kind (float / int / categorical) a dimension's mapping names, with no unknown options."""
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a mapping such as {{float: [0.001, 0.1], log: true}}, got {spec!r}.")
    kinds = [k for k in DIM_KINDS if k in spec]
    if len(kinds) != 1:
        raise ConfigError(f"{where}: give exactly one of float / int / categorical, got {sorted(spec)}.")
    kind = kinds[0]
    options = {"when"} if kind == "categorical" else {"log", "step", "when"}
    extra = set(spec) - {kind, *options}
    if extra:
        raise ConfigError(f"{where}: unknown option(s) {sorted(extra)} for `{kind}`; "
                          f"allowed: {', '.join(sorted(options))}.")
    return kind


def _parse_when(spec: dict, where: str) -> dict[str, tuple]:
    """A dimension's ``when``: each parameter name mapped to a tuple of the values it accepts."""
    when_raw = spec.get("when") or {}
    if not isinstance(when_raw, dict):
        raise ConfigError(f"{where}: `when` must map parameter names to values.")
    return {k: tuple(v) if isinstance(v, list) else (v,) for k, v in when_raw.items()}


def _parse_choices(name: str, choices: Any, f: dataclasses.Field, params_cls: type, where: str) -> tuple:
    """A categorical dimension's choices, typed and each inside the field's domain."""
    if not isinstance(choices, list) or not choices:
        raise ConfigError(f"{where}: `categorical` needs a non-empty list of choices.")
    choices = tuple(_typed(params_cls, name, c, where, "choice") for c in choices)
    for c in choices:
        if not in_domain(f, c):
            raise ConfigError(f"{where}: choice {c!r} is outside the domain {domain_text(f)}.")
    return choices


def _parse_range(kind: str, bounds: Any, ftype: type, where: str) -> tuple[float, float] | tuple[int, int]:
    """A float or int dimension's ``[low, high]``: finite numbers, whole for int, low below high."""
    if not (isinstance(bounds, list) and len(bounds) == 2):
        raise ConfigError(f"{where}: `{kind}` needs [low, high], got {bounds!r}.")
    if ftype not in (int, float) or (kind == "float" and ftype is int):
        raise ConfigError(f"{where}: `{kind}` range on a {ftype.__name__} field; use "
                          f"{'int' if ftype is int else 'categorical'}.")
    if any(isinstance(b, bool) for b in bounds):
        raise ConfigError(f"{where}: bounds must be numbers, got {bounds!r}; true / false are booleans, "
                          f"not {kind}s; write two numbers.")
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: bounds must be numbers, got {bounds!r}.") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ConfigError(f"{where}: bounds must be finite numbers, got {bounds!r}.")
    if kind == "int":
        if not (low.is_integer() and high.is_integer()):
            raise ConfigError(f"{where}: int bounds must be whole numbers, got {bounds!r}.")
        low, high = int(low), int(high)
    if not low < high:
        word = "empty" if low == high else "inverted"
        raise ConfigError(f"{where}: range [{bounds[0]}, {bounds[1]}] is {word}; low must be below high.")
    return low, high


def _parse_log(log: Any, low: float, bounds: list, where: str) -> bool:
    """A range's ``log`` flag: a boolean, and true only for a range above 0."""
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: `log` must be true or false, got {log!r}.")
    if log and low <= 0:
        raise ConfigError(f"{where}: log range [{bounds[0]}, {bounds[1]}] touches 0 or below; "
                          "a log scale needs low > 0 (e.g. 1e-6), or drop `log: true`.")
    return log


def _parse_step(name: str, kind: str, step: Any, log: bool, low: float, high: float, bounds: list,
                where: str) -> Any:
    """A range's ``step`` (None when absent): positive, whole for int, no larger than the range, not with log."""
    if step is None:
        return None
    if log:
        raise ConfigError(f"{where}: `step` and `log` cannot be combined (Optuna forbids it).")
    if not (isinstance(step, (int, float)) and not isinstance(step, bool) and step > 0
            and math.isfinite(step)):
        raise ConfigError(f"{where}: `step` must be a positive number, got {step!r}.")
    if kind == "int" and not float(step).is_integer():
        raise ConfigError(f"{where}: an int `step` must be a whole number, got {step!r}.")
    if step > high - low:
        raise ConfigError(f"{where}: `step` {step} is larger than the range [{bounds[0]}, {bounds[1]}], so only "
                          f"{bounds[0]} would ever be sampled; use a smaller step, or put `{name}` under "
                          "`fixed`.")
    return step
