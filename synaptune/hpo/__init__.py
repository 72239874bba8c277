# SPDX-License-Identifier: MIT
"""Hyperparameter search: the only package that imports Ray, Optuna and MLflow.

Those imports live inside functions, so ``import synaptune.hpo`` stays light.
"""
