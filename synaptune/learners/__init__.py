# SPDX-License-Identifier: MIT
"""Continual learners and their registry.

``LEARNERS.get(name)`` returns the learner class; ``cls.params_cls`` its Params.
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

__all__ = ["LEARNERS"]
