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
LEARNERS.register("naive", "synaptune.learners.naive:NaiveLearner")
LEARNERS.register("ewc", "synaptune.learners.ewc:EWCLearner")
LEARNERS.register("joint", "synaptune.learners.joint:JointLearner")
LEARNERS.register("satsom", "synaptune.learners.satsom:SatSOMLearner")
LEARNERS.register("classp", "synaptune.learners.classp:CLASSPLearner")
LEARNERS.register("sommask-mlp", "synaptune.learners.sommask:SOMMaskMLPLearner")
LEARNERS.register("sommask-cnn", "synaptune.learners.sommask:SOMMaskCNNLearner")
LEARNERS.register("sparse-mlp", "synaptune.learners.sparse:SparseMLPLearner")
LEARNERS.register("sparse-cnn", "synaptune.learners.sparse:SparseCNNLearner")
LEARNERS.register("hebbian", "synaptune.learners.hebbian:HebbianLearner")

#: The Params class of each built-in learner, in the torch-free :mod:`synaptune.learners.hparams`.
_BUILTIN_PARAMS = {
    "naive": "NaiveParams",
    "ewc": "EWCParams",
    "joint": "JointParams",
    "satsom": "SatSOMParams",
    "classp": "CLASSPParams",
    "sommask-mlp": "SOMMaskMLPParams",
    "sommask-cnn": "SOMMaskCNNParams",
    "sparse-mlp": "SparseMLPParams",
    "sparse-cnn": "SparseCNNParams",
    "hebbian": "HebbianParams",
}


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
