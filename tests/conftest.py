"""Shared test helpers for the whole suite."""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(condition: bool, reason: str) -> None:
    """Skip when a test's outside dependency is missing; under CI=true fail instead.

    CI installs every dependency, so a skip there would hide a broken install step.
    """
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str) -> str:
    """The path of an executable, skipping (or failing under CI) when it is not installed."""
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed")
    return path or ""
