# SPDX-License-Identifier: MIT
"""Search spaces: one YAML file per learner, validated against its Params."""

from __future__ import annotations

from synaptune.searchspaces.space import CategoricalDim, Dim, FloatDim, IntDim, SearchSpace, load_space, space_path

__all__ = ["CategoricalDim", "Dim", "FloatDim", "IntDim", "SearchSpace", "load_space", "space_path"]
