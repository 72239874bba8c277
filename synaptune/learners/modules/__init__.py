# SPDX-License-Identifier: MIT
"""Layers (``torch.nn.Module``) that the learners put in their networks.

:mod:`.kwinners` and :mod:`.sparse_weights` (nupic.torch's sparse layers),
:mod:`.bio` (Krotov–Hopfield Hebbian layers), :mod:`.som_mask` (a SOM gating a
layer). Each is built on the kernels of :mod:`synaptune.learners.functional`
and is usable on its own, outside any learner.
"""
