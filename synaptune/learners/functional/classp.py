# SPDX-License-Identifier: MIT
"""The CLASSP optimiser: Continual Learning through Adjustment Suppression and Sparsity Promotion.

An AdaGrad-like ``torch.optim.Optimizer`` whose per-weight step shrinks with the
gradient mass the weight has already accumulated (weights that learned much
learn less) and which skips updates whose gradient is below a threshold (sparse
updates leave weights free for later tasks). Its only state is one accumulator
per parameter. The ``classp`` learner
(:class:`~synaptune.learners.classp.CLASSPLearner`) trains the naive network
with it; the rule, its knobs and its two modes are described in
docs/learners.md#classp. Ludwig, arXiv 2405.09637.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from synaptune.exceptions import ConfigError
from synaptune.learners.hparams import CLASSP_MODES

__all__ = ["CLASSP"]


def _check_hparams(*, lr: Any, threshold: Any, epsilon: Any, power: Any, where: str = "CLASSP") -> None:
    """Raise :class:`ConfigError` (a ``ValueError``) for a value CLASSP cannot use."""
    def bad(name: str, value: Any, want: str) -> ConfigError:
        return ConfigError(f"{where}: `{name}` must be {want}, got {value!r}.")

    def real(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    if lr is not None and not (real(lr) and lr >= 0):
        raise bad("lr", lr, "a finite number >= 0 (the step size, e.g. 0.2)")
    if threshold is not None and not (isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
                                      and not math.isnan(threshold)):
        raise bad("threshold", threshold, "a number (the gate on g**2, e.g. 1e-8; not NaN)")
    if epsilon is not None and not (real(epsilon) and epsilon >= 0):
        raise bad("epsilon", epsilon, "a finite number >= 0 (added to the accumulator, e.g. 1e-5)")
    if power is not None and not (real(power) and power > 0):
        raise bad("power", power, "a finite number > 0 (the exponent p, e.g. 1 or 2)")


@functools.lru_cache(maxsize=256)
def _cutoff(threshold: float, dtype: torch.dtype) -> float:
    """The largest ``c`` of ``dtype`` with ``x * x > threshold`` (in ``dtype``) iff ``|x| > c``.

    ``fl(x * x)`` is non-decreasing in ``|x|``, so the gate is ``|x| > c`` for some
    representable ``c``: start from ``sqrt(threshold)`` and step by one ulp to it.
    """
    root = math.sqrt(threshold)
    if not math.isfinite(root):
        return math.inf
    t = torch.tensor(root, dtype=dtype)
    zero, inf = torch.zeros((), dtype=dtype), torch.tensor(math.inf, dtype=dtype)

    def passes(x: Tensor) -> bool:
        return bool(x * x > threshold)

    while passes(t) and t > 0:
        t = torch.nextafter(t, zero)
    while not passes(nxt := torch.nextafter(t, inf)):
        if torch.isinf(nxt):
            return math.inf
        t = nxt
    return float(t)


class CLASSP(torch.optim.Optimizer):
    r"""The CLASSP optimiser, in the paper's form (default) or bit-compatible with the published code.

    State per parameter: ``grad_sum`` :math:`S`, same shape, dtype and device as the
    parameter, created the first time the parameter has a gradient (``grad is None``
    skips the parameter entirely). Memory: one tensor the size of the model.

    ``mode="paper"`` (default), per scalar weight :math:`w` with gradient :math:`g`
    and each parameter group's own hyperparameters:

    .. math::

        m = [g^2 > \text{threshold}], \qquad
        w \leftarrow w - m \cdot \alpha \, g / (\varepsilon + S)^{1/p}, \qquad
        S \leftarrow S + m \, |g|^p

    With ``include_current=True`` (default; the README pseudocode) :math:`S` is
    updated *before* the step, so the current :math:`|g|^p` is in the denominator
    (the first step on a weight is then about :math:`\alpha\,\mathrm{sign}(g)` for
    p=1); with ``include_current=False`` the step uses the accumulator of the past
    steps only, as in the paper's equation (the first step is then
    :math:`\alpha g / \varepsilon^{1/p}`, large for a small :math:`\varepsilon`).
    Thresholds are on the scale of :math:`g^2` (1e-12 … 1e-4 typically); 0 gates
    only exact zeros; a negative threshold never gates. ``apply_decay=False``
    replaces the scaled step by plain SGD :math:`w \leftarrow w - m\,\alpha g`
    while :math:`S` keeps accumulating. p=2, threshold=0 is AdaGrad up to the
    placement of :math:`\varepsilon`.

    ``mode="reference"`` reproduces github.com/oswaldoludwig/CLASSP ``CLASSP.py``
    (docs/learners.md#classp-modes, ``tests/fixtures/reference/README.md`` §4) exactly:

    * one gate per *tensor*: ``float(any(g != 0)) > threshold``, i.e. for
      0 <= threshold < 1 a tensor is updated iff some entry of its gradient is
      non-zero (all entries then, however small), threshold >= 1 blocks every
      update (and the accumulation), threshold < 0 always passes;
    * :math:`S \leftarrow S + |g|` whatever the power (upstream raises to the
      power but discards the result), then
      :math:`w \leftarrow w - \alpha / (S + \varepsilon)^{1/p} \cdot g` with the
      updated :math:`S` (or :math:`w \leftarrow w - \alpha g` without scaling);
    * the hyperparameters of the *first* parameter group (or the ``step()``
      arguments) are used for every group; later groups' settings are ignored.

    Args:
        params: parameters or parameter groups (each group may set lr, threshold,
            epsilon, power, apply_decay, include_current).
        lr: step size :math:`\alpha` (upstream default 0.2).
        threshold: gate on :math:`g^2` (paper) or on the any-non-zero flag
            (reference). Default 0: in reference mode any value in [0, 1),
            including upstream's default 0.5, behaves the same.
        power: exponent :math:`p` > 0.
        epsilon: :math:`\varepsilon` >= 0 added to the accumulator.
        apply_decay: scale the step by the accumulator (upstream code calls it
            ``apply_scaling``, also accepted here).
        mode: ``"paper"`` or ``"reference"``.
        include_current: paper mode only, see above.

    ``step(closure=None, *, lr=, threshold=, epsilon=, power=, apply_decay=)``
    accepts per-call overrides that apply to *all* groups for that call (the
    upstream experiments switch regimes this way; ``apply_scaling=`` is an alias).

    Example::

        opt = CLASSP(model.parameters(), lr=0.2, threshold=1e-10, power=1)
        loss.backward(); opt.step(); opt.zero_grad()
    """

    def __init__(
        self,
        params: Any,
        lr: float = 0.2,
        threshold: float = 0.0,
        power: float = 1,
        epsilon: float = 1e-5,
        apply_decay: bool = True,
        *,
        mode: str = "paper",
        include_current: bool = True,
        apply_scaling: bool | None = None,
    ) -> None:
        if mode not in CLASSP_MODES:
            raise ConfigError(f"CLASSP: `mode` must be one of {', '.join(CLASSP_MODES)}, got {mode!r}.")
        if apply_scaling is not None:
            apply_decay = apply_scaling
        _check_hparams(lr=lr, threshold=threshold, epsilon=epsilon, power=power)
        defaults = dict(lr=lr, threshold=threshold, power=power, epsilon=epsilon,
                        apply_decay=bool(apply_decay), include_current=bool(include_current))
        super().__init__(params, defaults)
        self.mode = mode
        for group in self.param_groups:
            if "apply_scaling" in group:
                group["apply_decay"] = bool(group.pop("apply_scaling"))
            _check_hparams(lr=group["lr"], threshold=group["threshold"], epsilon=group["epsilon"],
                           power=group["power"], where="CLASSP param group")

    def _state_of(self, p: Tensor) -> Tensor:
        state = self.state[p]
        if "grad_sum" not in state:
            state["grad_sum"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state["grad_sum"]

    @torch.no_grad()
    def step(  # type: ignore[override]
        self,
        closure: Callable[[], Any] | None = None,
        *,
        lr: float | None = None,
        threshold: float | None = None,
        epsilon: float | None = None,
        power: float | None = None,
        apply_decay: bool | None = None,
        apply_scaling: bool | None = None,
    ) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if apply_scaling is not None:
            apply_decay = apply_scaling
        _check_hparams(lr=lr, threshold=threshold, epsilon=epsilon, power=power, where="CLASSP.step")
        over = dict(lr=lr, threshold=threshold, epsilon=epsilon, power=power, apply_decay=apply_decay)
        if self.mode == "reference":
            self._step_reference(over)
        else:
            for group in self.param_groups:
                hp = {k: (group[k] if over.get(k) is None else over[k]) for k in
                      ("lr", "threshold", "epsilon", "power", "apply_decay")}
                self._step_paper(group, include_current=group["include_current"], **hp)
        return loss

    # ------------------------------------------------------------------ reference
    def _step_reference(self, over: dict[str, Any]) -> None:
        hp: dict[str, Any] = {}
        for group in self.param_groups:
            if not hp:  # resolved once, from the first group: upstream's leakage across groups
                hp = {k: (group[k] if v is None else v) for k, v in over.items()}
            lr, thr, eps, p = hp["lr"], hp["threshold"], hp["epsilon"], hp["power"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = w.grad
                s = self._state_of(w)
                if not float(bool((g * g).any())) > thr:
                    continue
                s.add_(g.abs())
                if hp["apply_decay"]:
                    w.sub_((lr / (s + eps).pow(1.0 / p)) * g)
                else:
                    w.sub_(lr * g)

    # ---------------------------------------------------------------------- paper
    def _step_paper(self, group: dict[str, Any], *, lr: float, threshold: float, epsilon: float,
                    power: float, apply_decay: bool, include_current: bool) -> None:
        params = [w for w in group["params"] if w.grad is not None]
        if not params:
            return
        grads = [w.grad for w in params]
        sums = [self._state_of(w) for w in params]
        # Gating is needed unless it can only drop exact zeros, whose step and
        # accumulation are zero anyway (epsilon > 0 keeps the 0/0 away).
        if threshold < 0 or (threshold == 0 and epsilon > 0):
            gated = grads
        elif threshold == 0:
            gated = [torch.where(g * g > 0, g, 0.0) for g in grads]
        else:
            # g**2 > threshold  <=>  |g| > c, for the exact cut-off c of each dtype:
            # one hardshrink kernel instead of square, compare and select.
            gated = [F.hardshrink(g, _cutoff(threshold, g.dtype)) for g in grads]
        p = float(power)

        def accumulate() -> None:
            if p == 1.0:
                torch._foreach_add_(sums, torch._foreach_abs(gated))
            elif p == 2.0:
                torch._foreach_addcmul_(sums, gated, gated)
            else:
                torch._foreach_add_(sums, torch._foreach_pow(torch._foreach_abs(gated), p))

        if not apply_decay:
            accumulate()
            torch._foreach_add_(params, gated, alpha=-lr)
            return
        if include_current:
            accumulate()
        denom = torch._foreach_add(sums, epsilon)
        if p == 2.0:
            torch._foreach_sqrt_(denom)
        elif p != 1.0:
            torch._foreach_pow_(denom, 1.0 / p)
        if epsilon == 0:
            # A gated (or zero) gradient over an empty accumulator would be 0/0: no step there.
            denom = [torch.where(g == 0, 1.0, d) for g, d in zip(gated, denom)]
        torch._foreach_addcdiv_(params, gated, denom, value=-lr)
        if not include_current:
            accumulate()
