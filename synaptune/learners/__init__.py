# SPDX-License-Identifier: MIT
"""Continual learners and their registry.

``LEARNERS.get(name)`` returns the learner class; ``cls.params_cls`` its Params, which
:func:`params_of` gives without importing the learner (and, for a built-in one, torch).
Other packages add learners through the entry-point group ``synaptune.learners``
(see CONTRIBUTING.md, "A learner in your own package").
"""

from __future__ import annotations

from synaptune._registry import Registry

LEARNERS: Registry[type] = Registry("learner", entry_point_group="synaptune.learners")
#: Each built-in learner: its name, its class (imported on first use) and its Params class
#: in the torch-free :mod:`synaptune.learners.hparams`.
_BUILTIN = (
    ("naive", "synaptune.learners.naive:NaiveLearner", "NaiveParams"),
    ("ewc", "synaptune.learners.ewc:EWCLearner", "EWCParams"),
    ("joint", "synaptune.learners.joint:JointLearner", "JointParams"),
    ("satsom", "synaptune.learners.satsom:SatSOMLearner", "SatSOMParams"),
    ("classp", "synaptune.learners.classp:CLASSPLearner", "CLASSPParams"),
    ("sommask-mlp", "synaptune.learners.sommask:SOMMaskMLPLearner", "SOMMaskMLPParams"),
    ("sommask-cnn", "synaptune.learners.sommask:SOMMaskCNNLearner", "SOMMaskCNNParams"),
    ("sparse-mlp", "synaptune.learners.sparse:SparseMLPLearner", "SparseMLPParams"),
    ("sparse-cnn", "synaptune.learners.sparse:SparseCNNLearner", "SparseCNNParams"),
    ("hebbian", "synaptune.learners.hebbian:HebbianLearner", "HebbianParams"),
)
for _name, _target, _ in _BUILTIN:
    LEARNERS.register(_name, _target)
_BUILTIN_PARAMS = {name: params for name, _, params in _BUILTIN}


def params_of(learner: str) -> type:
    """The Params dataclass of registered learner ``learner`` (``UnknownNameError`` if none is).

    A built-in learner's comes from :mod:`synaptune.learners.hparams` without importing
    torch; a plugin's from its class.
    """
    if learner in _BUILTIN_PARAMS:
        from synaptune.learners import hparams

        return getattr(hparams, _BUILTIN_PARAMS[learner])  # type: ignore[no-any-return]
    return LEARNERS.get(learner).params_cls  # type: ignore[attr-defined, no-any-return]


__all__ = ["LEARNERS", "params_of"]
