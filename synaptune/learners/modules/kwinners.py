# SPDX-License-Identifier: MIT
"""k-winners activations with boosting: :class:`KWinners` (features) and :class:`KWinners2d` (channels).

Following nupic.torch (docs/learners.md#sparse, ``tests/fixtures/reference/README.md``
§2), re-implemented from that description; the winner selection is
:func:`synaptune.learners.functional.kwinners.keep_mask`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from synaptune.exceptions import ConfigError
from synaptune.learners.functional.kwinners import keep_mask

__all__ = ["KWinners", "KWinners2d", "KWinnersBase"]


def _check_percent_on(percent_on: Any) -> None:
    if not (isinstance(percent_on, (int, float)) and 0.0 < percent_on <= 1.0):
        raise ConfigError(
            f"`percent_on` is the fraction of units kept on and must be in (0, 1], got {percent_on!r}. "
            "Use e.g. 0.1 for 10% active units (1 keeps every unit)."
        )


def _check_boost(k_inference_factor: Any, boost_strength: Any, boost_strength_factor: Any,
                 duty_cycle_period: Any) -> None:
    if not (isinstance(k_inference_factor, (int, float)) and k_inference_factor > 0):
        raise ConfigError(f"`k_inference_factor` must be > 0 (usually >= 1), got {k_inference_factor!r}.")
    if not (isinstance(boost_strength, (int, float)) and boost_strength >= 0):
        raise ConfigError(f"`boost_strength` must be >= 0 (0 turns boosting off), got {boost_strength!r}.")
    if not (isinstance(boost_strength_factor, (int, float)) and 0 <= boost_strength_factor <= 1):
        raise ConfigError(
            f"`boost_strength_factor` must be in [0, 1] (1 keeps the boost constant), got {boost_strength_factor!r}."
        )
    if not (isinstance(duty_cycle_period, int) and duty_cycle_period >= 1):
        raise ConfigError(f"`duty_cycle_period` must be an int >= 1 (in samples), got {duty_cycle_period!r}.")


class KWinnersBase(nn.Module):
    """Boosting, duty cycle and the explicit boost-strength schedule shared by both k-winners."""

    def __init__(self, percent_on: float, *, k_inference_factor: float, boost_strength: float,
                 boost_strength_factor: float, duty_cycle_period: int, break_ties: bool, relu: bool,
                 duty_shape: tuple[int, ...]) -> None:
        super().__init__()
        _check_percent_on(percent_on)
        _check_boost(k_inference_factor, boost_strength, boost_strength_factor, duty_cycle_period)
        self.percent_on = float(percent_on)
        self.k_inference_factor = float(k_inference_factor)
        self.boost_strength_factor = float(boost_strength_factor)
        self.duty_cycle_period = int(duty_cycle_period)
        self.break_ties = bool(break_ties)
        self.relu = bool(relu)
        # Fraction of training samples in which each unit (channel) was a positive winner,
        # a running mean over the last `duty_cycle_period` samples.
        self.register_buffer("duty_cycle", torch.zeros(duty_shape))
        # float64, so repeated decays are computed as nupic does (in Python floats).
        self.register_buffer("boost_strength", torch.tensor(float(boost_strength), dtype=torch.float64))
        self.register_buffer("learning_iterations", torch.zeros((), dtype=torch.int64))
        self._boost = float(boost_strength)  # host copy: deciding to boost needs no device sync

    def update_boost_strength(self) -> None:
        """Multiply the boost strength by ``boost_strength_factor`` (call once per epoch)."""
        self._boost *= self.boost_strength_factor
        self.boost_strength.fill_(self._boost)

    def _boosted(self, x: Tensor) -> Tensor:
        """Scores used to choose winners (never transmitted): ``x * exp(-beta * duty_cycle)``."""
        x = x.detach()
        if self._boost > 0:
            return x * torch.exp(-self._boost * self.duty_cycle)
        return x

    @torch.no_grad()
    def _update_duty_cycle(self, y: Tensor, count: Tensor) -> None:
        batch = y.shape[0]
        self.learning_iterations += batch
        # The period ramps up over the first `duty_cycle_period` samples.
        period = self.learning_iterations.clamp(max=self.duty_cycle_period).to(self.duty_cycle.dtype)
        self.duty_cycle.mul_(period - batch)
        self.duty_cycle.view(-1).add_(count)
        self.duty_cycle.div_(period)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._boost = float(self.boost_strength)


class KWinners(KWinnersBase):
    r"""k-winners-take-all over the units of a (B, n) input.

    In training mode the ``k = round(n * percent_on)`` units with the highest
    boosted score win; in eval mode ``k_inference = int(k * k_inference_factor)``
    (truncated, at most n). Winners transmit their raw input, losers 0, and the
    gradient flows through winners only:

    .. math::

        s_j = x_j \, e^{-\beta d_j}, \qquad y_j = x_j \,[s_j \ge s_{(k)}]

    where :math:`s_{(k)}` is the k-th largest score of the row and :math:`d_j` the
    duty cycle, updated after each training forward with ``B`` samples as
    :math:`d \leftarrow (d\,(P - B) + \sum_b [y_{bj} > 0]) / P`,
    :math:`P = \min(\text{duty\_cycle\_period}, \text{samples seen})`.
    :math:`\beta` changes only through :meth:`update_boost_strength`.

    Reference: Ahmad & Scheinkman, "How Can We Be So Dense?" (2019); nupic.torch.

    Args:
        n: units per sample.
        percent_on: fraction of units on in training, in (0, 1]; k is at least 1.
        k_inference_factor: eval-mode k is ``int(k * k_inference_factor)``.
        boost_strength: :math:`\beta` >= 0; 0 turns boosting off.
        boost_strength_factor: :meth:`update_boost_strength` multiplies :math:`\beta` by it.
        duty_cycle_period: samples over which the duty cycle averages.
        break_ties: exactly k winners per row (otherwise ties at the k-th value all win).
        relu: non-positive units never win.

    Example::

        kw = KWinners(2048, percent_on=0.1)
        y = kw(torch.randn(256, 2048))          # (256, 2048), >= 205 non-zeros per row
        kw.update_boost_strength()               # once per epoch

    State:
        duty_cycle: float32 (n,), mean rate of positive wins per unit.
        boost_strength: float64 (), current :math:`\beta`.
        learning_iterations: int64 (), training samples seen.
    """

    def __init__(self, n: int, percent_on: float, *, k_inference_factor: float = 1.5,
                 boost_strength: float = 1.0, boost_strength_factor: float = 0.9,
                 duty_cycle_period: int = 1000, break_ties: bool = False, relu: bool = False) -> None:
        if not (isinstance(n, int) and n >= 1):
            raise ConfigError(f"KWinners: `n` (units) must be an int >= 1, got {n!r}.")
        super().__init__(percent_on, k_inference_factor=k_inference_factor, boost_strength=boost_strength,
                         boost_strength_factor=boost_strength_factor, duty_cycle_period=duty_cycle_period,
                         break_ties=break_ties, relu=relu, duty_shape=(n,))
        self.n = n
        self.k = max(1, int(round(n * self.percent_on)))
        self.k_inference = min(n, max(1, int(self.k * self.k_inference_factor)))

    def forward(self, x: Tensor) -> Tensor:
        """``x`` (B, n) -> (B, n), the winners' values and zeros."""
        k = self.k if self.training else self.k_inference
        y = x * keep_mask(self._boosted(x), k, break_ties=self.break_ties, relu=self.relu)
        if self.training:
            self._update_duty_cycle(y, (y > 0).sum(dim=0, dtype=self.duty_cycle.dtype))
        return y

    def extra_repr(self) -> str:
        return (f"n={self.n}, percent_on={self.percent_on}, k={self.k}, k_inference={self.k_inference}, "
                f"boost_strength={self._boost}, boost_strength_factor={self.boost_strength_factor}, "
                f"duty_cycle_period={self.duty_cycle_period}, break_ties={self.break_ties}, relu={self.relu}")


class KWinners2d(KWinnersBase):
    r"""k-winners-take-all over (B, C, H, W) feature maps.

    ``local=False`` (nupic's default): the winners are chosen among all C·H·W
    values of a sample, ``k = round(C·H·W · percent_on)`` and
    ``k_inference = round(C·H·W · percent_on · k_inference_factor)``.
    ``local=True``: among the C channels at each location, with the same formulas
    for n = C. Rounding is Python's (half to even); k is at least 1 and
    k_inference at most n. Boosting and the duty cycle are per channel; a
    channel's count is its positive winners divided by H·W. Otherwise as
    :class:`KWinners`.

    Args:
        channels: C.
        percent_on: fraction of values on in training, in (0, 1].
        local: choose per location instead of per sample.
        (the rest as :class:`KWinners`)

    Example::

        kw = KWinners2d(64, percent_on=0.1, local=True)
        y = kw(torch.randn(8, 64, 16, 16))      # >= 6 winners per location

    State:
        duty_cycle: float32 (1, C, 1, 1).
        boost_strength, learning_iterations: as :class:`KWinners`.
    """

    def __init__(self, channels: int, percent_on: float = 0.1, *, k_inference_factor: float = 1.5,
                 boost_strength: float = 1.0, boost_strength_factor: float = 0.9,
                 duty_cycle_period: int = 1000, local: bool = False, break_ties: bool = False,
                 relu: bool = False) -> None:
        if not (isinstance(channels, int) and channels >= 1):
            raise ConfigError(f"KWinners2d: `channels` must be an int >= 1, got {channels!r}.")
        super().__init__(percent_on, k_inference_factor=k_inference_factor, boost_strength=boost_strength,
                         boost_strength_factor=boost_strength_factor, duty_cycle_period=duty_cycle_period,
                         break_ties=break_ties, relu=relu, duty_shape=(1, channels, 1, 1))
        self.channels = channels
        self.local = bool(local)

    def ks(self, n: int) -> tuple[int, int]:
        """``(k, k_inference)`` for ``n`` candidates per choice (C if local, else C·H·W)."""
        k = max(1, int(round(n * self.percent_on)))
        k_inf = min(n, max(1, int(round(n * self.percent_on * self.k_inference_factor))))
        return k, k_inf

    def forward(self, x: Tensor) -> Tensor:
        """``x`` (B, C, H, W) -> same shape, the winners' values and zeros."""
        b, c, h, w = x.shape
        k, k_inf = self.ks(c if self.local else c * h * w)
        k = k if self.training else k_inf
        boosted = self._boosted(x)
        if self.local:
            keep = keep_mask(boosted, k, break_ties=self.break_ties, relu=self.relu)
        else:
            keep = keep_mask(boosted.reshape(b, -1), k, break_ties=self.break_ties,
                              relu=self.relu).view(b, c, h, w)
        y = x * keep
        if self.training:
            count = (y > 0).sum(dim=(0, 2, 3), dtype=self.duty_cycle.dtype) / float(h * w)
            self._update_duty_cycle(y, count)
        return y

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, percent_on={self.percent_on}, local={self.local}, "
                f"k_inference_factor={self.k_inference_factor}, boost_strength={self._boost}, "
                f"boost_strength_factor={self.boost_strength_factor}, "
                f"duty_cycle_period={self.duty_cycle_period}, break_ties={self.break_ties}, relu={self.relu}")
