# SPDX-License-Identifier: MIT
"""Kernels: pure tensor functions the learners' modules are built from, and the CLASSP optimiser.

No parameters, no random numbers drawn: :mod:`.som` (self-organizing map
pieces, used by SatSOM and the SOM masks), :mod:`.kwinners` (which units of a
k-winners layer stay on), :mod:`.krotov_hopfield` (the Hebbian rule of the Bio
layers), :mod:`.task_classes` (each task's classes, masking scores in task-il)
and :mod:`.classp` (the CLASSP update rule as a ``torch.optim.Optimizer``, whose
only state is its per-parameter accumulator). Their modules are in
:mod:`synaptune.learners.modules`.
"""
