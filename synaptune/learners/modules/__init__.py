# SPDX-License-Identifier: MIT
"""Layers (``torch.nn.Module``) that the learners put in their networks.

:mod:`.kwinners` and :mod:`.sparse_weights` (nupic.torch's sparse layers),
:mod:`.bio` (Krotov–Hopfield Hebbian layers) and :mod:`.bio_head` (the
classifier trained on their features), :mod:`.som_mask` (a SOM gating a layer)
and :mod:`.satsom` (the Saturation SOM). Each is built on the kernels of
:mod:`synaptune.learners.functional` and is usable on its own, outside any learner.
"""
