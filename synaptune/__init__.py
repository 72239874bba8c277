# SPDX-License-Identifier: MIT
"""synaptune: hyperparameter search for biologically-inspired continual learners.

``import synaptune`` is light: Ray, Optuna, MLflow and torchvision are imported
only inside :mod:`synaptune.hpo` and the CLI handlers that need them.
"""

from __future__ import annotations

import logging

from synaptune.exceptions import ConfigError, SynaptuneError, UnknownNameError

__version__ = "0.1.0"

__all__ = ["ConfigError", "SynaptuneError", "UnknownNameError", "__version__"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
