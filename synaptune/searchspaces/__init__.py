# SPDX-License-Identifier: MIT
"""Search spaces: one YAML file per learner, validated against its Params."""

from __future__ import annotations

from synaptune.searchspaces.space import Dim, SearchSpace, load_space, space_path

__all__ = ["Dim", "SearchSpace", "load_space", "space_path"]
