# SPDX-License-Identifier: MIT
"""The hyperparameters of every built-in learner, as frozen dataclasses; no torch here.

Each learner module imports its Params from here (``NaiveLearner.params_cls`` is
:class:`NaiveParams`), so ``synaptune space``, ``list``, presets and the CLI's
checks read the knobs, their defaults, domains and help without importing torch
(:func:`synaptune.learners.params_of`). A field's ``param(default, low=, high=,
choices=, help=)`` is its domain; Params validate themselves on construction.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import ClassVar

from synaptune.exceptions import ConfigError
from synaptune.params import param, validate

__all__ = [
    "CLASSP_MODES",
    "MODES",
    "NORMS",
    "CLASSPParams",
    "EWCParams",
    "HebbianParams",
    "JointParams",
    "NaiveParams",
    "NetworkParams",
    "SOMMaskCNNParams",
    "SOMMaskMLPParams",
    "SOMMaskParams",
    "SatSOMParams",
    "SparseCNNParams",
    "SparseMLPParams",
    "TrainingParams",
    "parse_grid",
]


@dataclass(frozen=True, kw_only=True)
class TrainingParams:
    """Dense width, dropout and optimiser knobs shared by the gradient-trained learners."""

    hidden_units: int = param(128, low=1,
                              help="Width of each hidden dense layer (MLP layers, CNN dense layer).")
    dropout: float = param(0.0, low=0.0, high=1.0, high_open=True,
                           help="Dropout probability after each hidden dense layer; use a value below 1.")
    optimizer: str = param("sgd", choices=("sgd", "adam"),
                           help="Optimiser, fresh for every task: sgd or adam.")
    lr: float = param(0.05, low=0.0, high=10.0, low_open=True,
                      help="Learning rate of the optimiser; use a positive step, e.g. 0.05.")
    momentum: float = param(0.9, low=0.0, high=1.0, high_open=True,
                            help="SGD momentum (ignored by adam); use a value below 1.")
    weight_decay: float = param(0.0, low=0.0, high=1.0, help="L2 weight decay of the optimiser.")
    batch_size: int = param(32, low=1, help="Training mini-batch size.")
    epochs: int = param(3, low=1, help="Passes over each task's training data.")
    multi_head: bool = param(False,
                             help="One output head per task (task-il only) instead of one shared head.")

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True, kw_only=True)
class NetworkParams(TrainingParams):
    """The training knobs and the feature extractor: an MLP or the small CNN, chosen by ``arch``.

    A learner bound to one extractor subclasses :class:`TrainingParams` instead and
    gives ``arch`` as a class constant, with only that extractor's knobs.
    """

    arch: str = param("mlp", choices=("mlp", "cnn"),
                      help="Feature extractor: mlp (flatten + dense layers) or cnn (two conv blocks).")
    hidden_layers: int = param(2, low=1, high=8,
                               help="Number of hidden dense layers of the MLP (arch=mlp).")
    conv_channels: int = param(16, low=1, help="Channels of each 3x3 convolution of the CNN (arch=cnn).")


@dataclass(frozen=True, kw_only=True)
class NaiveParams(NetworkParams):
    """Hyperparameters of :class:`~synaptune.learners.naive.NaiveLearner` (the shared network knobs only)."""


@dataclass(frozen=True, kw_only=True)
class EWCParams(NetworkParams):
    """Hyperparameters of :class:`~synaptune.learners.ewc.EWCLearner`: the network knobs plus the penalty."""

    ewc_lambda: float = param(100.0, low=0.0, high=1e6, help="strength of the quadratic penalty")
    fisher_samples: int = param(200, low=1, help="training samples used to estimate the diagonal Fisher")


@dataclass(frozen=True, kw_only=True)
class JointParams(NetworkParams):
    """Hyperparameters of :class:`~synaptune.learners.joint.JointLearner` (the shared network knobs only)."""


#: The modes of CLASSP: the paper's rule, or the original code reproduced.
CLASSP_MODES = ("paper", "reference")


@dataclass(frozen=True, kw_only=True)
class CLASSPParams(NetworkParams):
    """Hyperparameters of :class:`~synaptune.learners.classp.CLASSPLearner`: the network knobs plus CLASSP's.

    The inherited ``optimizer``, ``momentum`` and ``weight_decay`` are ignored (the
    optimiser is always CLASSP).
    """

    lr: float = param(0.2, low=0.0, high=10.0, low_open=True,
                      help="CLASSP step size alpha; use a positive step, e.g. 0.2.")
    threshold: float = param(1e-10, low=-1.0, high=1e3,
                             help="Gate: paper mode updates a weight only where g**2 > threshold "
                                  "(e.g. 1e-12..1e-3); reference mode: <1 on, >=1 every update off.")
    power: int = param(1, low=1, high=8, help="Exponent p: accumulate |g|**p, scale by (eps + sum)**(-1/p).")
    epsilon: float = param(1e-5, low=0.0, high=1.0, low_open=True,
                           help="Added to the accumulator before the root, e.g. 1e-5.")
    apply_decay: bool = param(True, help="Scale steps by the accumulator (false: plain SGD that still "
                                         "accumulates).")
    mode: str = param("paper", choices=CLASSP_MODES,
                      help="paper: per-weight gate and |g|**p; reference: bit-compatible with the "
                           "published code.")
    include_current: bool = param(True, help="Paper mode: the current |g|**p is in the denominator "
                                             "(README) rather than only the past ones (paper's equation).")


_GRID_RE = re.compile(r"^\d+(x\d+)*$")


def parse_grid(text: str) -> tuple[int, ...]:
    """``"30x30"`` -> ``(30, 30)``; ``"100"`` -> ``(100,)``; ``"8x8x8"`` -> ``(8, 8, 8)``.

    Raises:
        ConfigError: not sides joined by ``x``, or a side below 1.
    """
    compact = text.replace(" ", "").lower()
    if not _GRID_RE.match(compact):
        raise ConfigError(
            f"`grid` must be lattice sides joined by 'x', e.g. '30x30' (2-D), '100' (1-D) or "
            f"'8x8x8' (3-D), got {text!r}."
        )
    shape = tuple(int(s) for s in compact.split("x"))
    if min(shape) < 1:
        raise ConfigError(f"`grid` sides must be at least 1, got {text!r}.")
    return shape


@dataclass(frozen=True, kw_only=True)
class SatSOMParams:
    """Hyperparameters of :class:`~synaptune.learners.satsom.SatSOM` and :class:`~synaptune.learners.satsom.SatSOMLearner`.

    The map's knobs keep the original's names (``Lr``, ``Lr_bias``, ``Lr_sigma``,
    ``q``, ``p``; docs/learners.md#satsom-knobs). Two differ in form, because Params fields
    are scalars: the lattice is the string ``grid`` (``grid_shape`` parses it),
    and the initial width is ``initial_sigma_rel``, a fraction of the longest
    grid side (``initial_sigma`` gives it in lattice units), so one search range
    fits every grid size. ``epochs``, ``features`` and ``feature_dim`` are read
    by the learner only.

    The defaults are those of the original's online evaluation script
    (``eval_online.py``: 30x30, sigma_0 = 3, lambda_0 = 0.5, Lr = 0.01,
    Lr_bias = 0.2, Lr_sigma = 0.05, q = 0.005, p = 10, one pass per task).
    """

    grid: str = param("30x30", help="Lattice shape: sides joined by 'x' ('30x30'; '100' is 1-D, "
                                    "'8x8x8' 3-D). Neurons N = product of the sides.")
    initial_lr: float = param(0.5, low=0.0, low_open=True,
                              help="Starting learning rate of every neuron (lambda_0), e.g. 0.5.")
    initial_sigma_rel: float = param(0.1, low=0.0, low_open=True, unit="x longest grid side",
                                     help="Starting neighbourhood width of every neuron, as a fraction "
                                          "of the longest grid side (0.1 on 30x30 is sigma_0 = 3).")
    Lr: float = param(0.01, low=0.0, low_open=True,
                      help="Learning-rate decay: lr_i *= exp(-Lr * h_i) after each step; must be > 0.")
    Lr_bias: float = param(0.2, low=0.0,
                           help="Training boost of the neighbourhood for unsaturated neurons: "
                                "h_i *= 1 + Lr_bias * (1 - saturation_i).")
    Lr_sigma: float = param(0.05, low=0.0,
                            help="Width decay: sigma_i *= exp(-Lr_sigma * h_i) after each step.")
    q: float = param(0.005, low=0.0, high=1.0,
                     help="Read-out quantile: distances above the q-quantile of the trained neurons' "
                          "distances are disabled.")
    p: float = param(10.0, low=0.0, low_open=True,
                     help="Proximity exponent of the read-out: weight (1 - distance)**p.")
    mode: str = param("default", choices=("default", "reference"),
                      help="default: per-sample read-out (batch-independent); reference: the "
                           "original's batch-global read-out, quirks included.")
    epochs: int = param(1, low=1, help="(learner) Passes over each task's training samples, one step each.")
    features: str = param("pixels", choices=("pixels", "random-projection"),
                          help="(learner) Map input: flattened pixels, or a fixed random Gaussian "
                               "projection of them to `feature_dim` dims.")
    feature_dim: int = param(256, low=1,
                             help="(learner) Output size of the random projection (features="
                                  "random-projection only).")

    def __post_init__(self) -> None:
        validate(self)
        # One spelling per lattice ("30 X 30" -> "30x30"), so equal params compare and log equal.
        object.__setattr__(self, "grid", "x".join(map(str, parse_grid(self.grid))))

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """The lattice shape, e.g. ``(30, 30)``."""
        return parse_grid(self.grid)

    @property
    def n_neurons(self) -> int:
        """N, the number of neurons (product of the sides)."""
        return math.prod(self.grid_shape)

    @property
    def initial_sigma(self) -> float:
        """sigma_0 in lattice units: ``initial_sigma_rel`` times the longest side."""
        return self.initial_sigma_rel * max(self.grid_shape)


@dataclass(frozen=True, kw_only=True)
class SOMMaskParams(TrainingParams):
    """SOM knobs shared by ``sommask-mlp`` and ``sommask-cnn`` (plus the network knobs).

    Widths are in lattice units (neighbouring neurons are 1 apart). The
    organising width and the SOM learning rate decay exponentially from their
    start to their final value over ``decay_steps`` SOM updates (one per
    training batch), then stay there; the forward width is fixed.
    """

    sigma_org: float = param(2.0, low=0.0, low_open=True, unit="lattice units",
                             help="Starting width of the neighbourhood that organises the map (SOM rule).")
    sigma_org_final: float = param(0.5, low=0.0, low_open=True, unit="lattice units",
                                   help="Organising width reached after `decay_steps` SOM updates.")
    sigma_fwd: float = param(3.0, low=0.0, low_open=True, unit="lattice units",
                             help="Width of the forward mask around the winner; inf makes the mask 1 "
                                  "(the unmasked network).")
    som_lr: float = param(0.5, low=0.0, high=1.0, low_open=True,
                          help="Starting SOM learning rate eta of the prototype update, in (0, 1].")
    som_lr_final: float = param(0.01, low=0.0, high=1.0, low_open=True,
                                help="SOM learning rate reached after `decay_steps` SOM updates.")
    decay_steps: int = param(500, low=1,
                             help="SOM updates (training batches) over which sigma_org and som_lr decay.")
    threshold: float = param(0.0, low=0.0, high=1.0, high_open=True,
                             help="Mask values at or below this are set to 0 (only units with mask > "
                                  "threshold stay active); 0 keeps the soft mask.")
    mask_position: str = param("post", choices=("pre", "post"),
                               help="pre: relu(mask * Wx + b) (SOM-ReLU); "
                                    "post: mask * relu(Wx + b) (ReLU-SOM).")
    masked_layers: str = param("all", choices=("first", "all"),
                               help="Mask the first hidden layer only, or every hidden layer "
                                    "(conv and dense) of the network.")


@dataclass(frozen=True, kw_only=True)
class SOMMaskMLPParams(SOMMaskParams):
    """Hyperparameters of ``sommask-mlp``: an MLP whose hidden layers are SOM-masked."""

    #: The feature extractor (a constant: there is nothing to choose).
    arch: ClassVar[str] = "mlp"
    #: Knobs that did nothing here, dropped from older presets and runs with a warning.
    RETIRED: ClassVar[dict[str, str]] = {"arch": "always mlp", "conv_channels": "the MLP has no convolution"}

    hidden_units: int = param(100, low=1,
                              help="Width of each hidden dense layer (also the SOM's neurons).")
    hidden_layers: int = param(2, low=1, high=8, help="Number of hidden dense layers, each SOM-masked.")


@dataclass(frozen=True, kw_only=True)
class SOMMaskCNNParams(SOMMaskParams):
    """Hyperparameters of ``sommask-cnn``: the small CNN with SOM-masked convolutions."""

    arch: ClassVar[str] = "cnn"
    RETIRED: ClassVar[dict[str, str]] = {"arch": "always cnn",
                                         "hidden_layers": "the small CNN has one hidden dense layer"}

    conv_channels: int = param(16, low=1, help="Channels of each 3x3 convolution (also the SOMs' neurons).")
    conv_mask: str = param("patch", choices=("image", "patch"),
                           help="image: one SOM on the whole layer input, a mask per channel (SOM+CNN); "
                                "patch: a convolutional SOM on the patches, a mask per channel and "
                                "location (CSOM).")


#: The modes of sparse-* and hebbian (and their layers): the default, or the original reproduced.
MODES = ("default", "reference")


@dataclass(frozen=True, kw_only=True)
class SparseMLPParams:
    """Hyperparameters of ``sparse-mlp``: seed 003's knobs, defaults from its configuration.

    The defaults are the ``[DEFAULT]`` section of the original's
    ``exps/exps_params.cfg`` (the "default preset"): 10% of hidden units on, 10% of
    each unit's weights kept (``weight_sparsity_fc = 0.1``, so sparsity 0.9), no
    boosting, k_inference_factor 1, one hidden layer of 1024 units, dropout 0.5,
    plain SGD lr 0.01, mini-batches of 128 and 30 epochs per task. Names differ
    from the original only for the weight sparsity, which is the fraction of zeros
    here (``sparsity_fc = 1 - weight_sparsity_fc``), and ``mb_size`` (``batch_size``).
    """

    percent_on_fc: float = param(0.1, low=0.0, high=1.0, low_open=True,
                                 help="Fraction of each hidden dense layer's units on (k-winners); "
                                      "1 = dense ReLU layer.")
    k_inference_factor: float = param(1.0, low=1.0, high=10.0,
                                      help="At test time k is multiplied by this (capped at all units).")
    boost_strength: float = param(0.0, low=0.0, high=100.0,
                                  help="Boosting beta: units that won rarely score higher; 0 = off.")
    boost_strength_factor: float = param(1.0, low=0.0, high=1.0,
                                         help="beta is multiplied by this after every epoch "
                                              "(default mode; the original never decays it).")
    duty_cycle_period: int = param(1000, low=1, unit="samples",
                                   help="Samples over which each unit's win rate is averaged.")
    break_ties: bool = param(False, help="Exactly k winners (otherwise ties at the k-th value all win).")
    sparsity_fc: float = param(0.9, low=0.0, high=1.0, high_open=True,
                               help="Fraction of each dense unit's weights fixed at zero, in [0, 1); "
                                    "0 = dense.")
    hidden_units: int = param(1024, low=1, help="Width of each hidden dense layer.")
    hidden_layers: int = param(1, low=1, high=8, help="Number of hidden dense layers.")
    dropout: float = param(0.5, low=0.0, high=1.0, high_open=True,
                           help="Dropout probability after each hidden dense layer; use a value below 1.")
    lr: float = param(0.01, low=0.0, high=10.0, low_open=True, help="SGD learning rate.")
    momentum: float = param(0.0, low=0.0, high=1.0, high_open=True, help="SGD momentum, below 1.")
    nesterov: bool = param(False, help="Nesterov momentum (needs momentum > 0).")
    weight_decay: float = param(0.0, low=0.0, high=1.0, help="SGD L2 weight decay.")
    batch_size: int = param(128, low=1, help="Training mini-batch size (the original's mb_size).")
    train_ep: int = param(30, low=1, help="Epochs on the first task.")
    train_ep_inc: int = param(30, low=1, help="Epochs on each later task.")
    multi_head: bool = param(False, help="One output head per task (task-il only); every head is trained "
                                         "when its task arrives.")
    mode: str = param("default", choices=MODES,
                      help="default: re-zero masked weights after every optimizer step and decay the "
                           "boost every epoch; reference: the original's timing (re-zero at each "
                           "training forward, no decay).")

    def __post_init__(self) -> None:
        validate(self)
        if self.nesterov and self.momentum == 0:
            raise ConfigError("`nesterov`=true needs `momentum` > 0, got momentum=0. "
                              "Either set momentum (e.g. 0.9) or nesterov=false.")


@dataclass(frozen=True, kw_only=True)
class SparseCNNParams(SparseMLPParams):
    """Hyperparameters of ``sparse-cnn``: those of ``sparse-mlp`` plus the convolutions'.

    Defaults again from the original's ``[DEFAULT]`` (which is a CNN):
    ``percent_on_conv = 0.99`` and ``weight_sparsity_conv = 0.99`` (sparsity 0.01),
    k-winners per location (``KWinners2d(local=True)``).
    """

    percent_on_conv: float = param(0.99, low=0.0, high=1.0, low_open=True,
                                   help="Fraction of conv activations on (k-winners); 1 = dense.")
    sparsity_conv: float = param(0.01, low=0.0, high=1.0, high_open=True,
                                 help="Fraction of each conv filter's weights fixed at zero, in [0, 1).")
    local: bool = param(True, help="Conv k-winners among the channels at each location (else per sample).")
    conv_channels: int = param(32, low=1, help="Channels of each of the two 3x3 convolutions.")


#: How a Hebbian layer normalises its weight change: by each unit's largest, or the layer's.
NORMS = ("per-unit", "global")


@dataclass(frozen=True, kw_only=True)
class HebbianParams:
    """Hyperparameters of :class:`~synaptune.learners.hebbian.HebbianLearner`.

    Defaults: seed 004's benchmark (BioPyTorch README, docs/learners.md#hebbian-knobs) at its
    best depth, one BioConv2d 96x5x5 with p=2, k=9, delta=0.08, dropout 0.2, the
    conv learning-rate schedule (0.007 -> 1e-4, speed 0.8) and the classifier's
    SGD (lr 0.05, momentum 0.9, batch 64).
    """

    arch: str = param("conv", choices=("conv", "linear"),
                      help="conv: seed 004's stack (BioConv2d 96x5x5+pool, 128x3x3, 192x3x3+pool, 256x3x3, "
                           "then BioLinear); linear: BioLinear layers of `linear_units` each.")
    hebbian_layers: int = param(1, low=0, high=5,
                                help="Hebbian layers before the classifier (0: a linear classifier on the "
                                     "raw input, the control).")
    padding: str = param("auto", choices=("auto", "valid", "same"),
                         help="Conv padding: valid (as the seed), same, or auto (valid when the image is "
                              "large enough for the stack, else same).")
    linear_units: int = param(300, low=2, help="Units of each BioLinear layer.")
    p: int = param(2, low=2, high=16, help="Lebesgue exponent p of every Hebbian layer (shared).")
    k: int = param(9, low=2, high=64,
                   help="Ranking parameter: the k-th most active unit is pushed away (anti-Hebbian); "
                        "at most the units of the smallest layer.")
    delta: float = param(0.08, low=0.0, high=1.0, help="Anti-Hebbian strength Delta.")
    linear_own_pkd: bool = param(False, help="BioLinear layers use linear_p / linear_k / linear_delta "
                                             "instead of the shared p / k / delta.")
    linear_p: int = param(3, low=2, high=16, help="p of the BioLinear layers (with linear_own_pkd).")
    linear_k: int = param(2, low=2, high=64, help="k of the BioLinear layers (with linear_own_pkd).")
    linear_delta: float = param(0.05, low=0.0, high=1.0, help="Delta of the BioLinear layers (with "
                                                               "linear_own_pkd).")
    hebb_lr_schedule: str = param("exp", choices=("exp", "constant"),
                                  help="Hebbian learning rate: exp is end - (end - start) * exp(-speed * "
                                       "epochs_done), constant is start.")
    hebb_lr: float = param(0.007, low=0.0, low_open=True, help="Start Hebbian learning rate of conv layers.")
    hebb_lr_end: float = param(1e-4, low=0.0, help="End Hebbian learning rate of conv layers (exp).")
    hebb_lr_speed: float = param(0.8, low=0.0, low_open=True, unit="1/epoch",
                                 help="Decay speed of the conv layers' exp schedule.")
    linear_lr: float = param(0.1, low=0.0, low_open=True,
                             help="Start Hebbian learning rate of BioLinear layers.")
    linear_lr_end: float = param(0.005, low=0.0, help="End Hebbian learning rate of BioLinear layers (exp).")
    linear_lr_speed: float = param(0.1, low=0.0, low_open=True, unit="1/epoch",
                                   help="Decay speed of the BioLinear layers' exp schedule.")
    hebb_epochs: int = param(1, low=1, help="Most unsupervised passes per layer and task.")
    hebb_tol: float = param(0.01, low=0.0,
                            help="A layer stops early once its convergence max|sum|W|^p - 1| at the end of "
                                 "an epoch is at most this (0: never).")
    hebb_order: str = param("sequential", choices=("sequential", "together"),
                            help="sequential: train layer n on the outputs of trained layers 1..n-1; "
                                 "together: every layer steps on each batch.")
    freeze_hebbian: bool = param(True, help="Train the Hebbian layers on the first task only (true) or on "
                                            "every task (false).")
    norm: str = param("per-unit", choices=NORMS,
                      help="Default mode: divide each update by its unit's max (per-unit) or the "
                           "layer's max (global).")
    mode: str = param("default", choices=MODES,
                      help="reference: layers bit-compatible with biopytorch (global norm for BioLinear, "
                           "per-channel for BioConv2d); default: `norm` for both.")
    dropout: float = param(0.2, low=0.0, high=1.0, high_open=True, help="Dropout before the classifier head.")
    lr: float = param(0.05, low=0.0, high=10.0, low_open=True,
                      help="SGD learning rate of the classifier head.")
    momentum: float = param(0.9, low=0.0, high=1.0, high_open=True, help="SGD momentum of the head.")
    epochs: int = param(3, low=1, help="Passes of supervised head training per task.")
    batch_size: int = param(64, low=2, help="Mini-batch size of both phases.")
    multi_head: bool = param(False, help="One head per task (task-il only) instead of one shared head.")

    def __post_init__(self) -> None:
        validate(self)
