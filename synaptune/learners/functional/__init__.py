# SPDX-License-Identifier: MIT
"""Kernels: pure tensor functions the learners' modules are built from.

No state, no parameters, no random numbers drawn: :mod:`.som` (self-organizing
map pieces, used by SatSOM and the SOM masks), :mod:`.kwinners` (which units of
a k-winners layer stay on) and :mod:`.krotov_hopfield` (the Hebbian rule of the
Bio layers). Their modules are in :mod:`synaptune.learners.modules`.
"""
