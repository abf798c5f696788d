"""Argument checks shared by the statistics modules."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm


def _as_count(value, name: str) -> int:
    """A non-negative integer given as int, numpy integer or integral float."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not bool")
    if isinstance(value, int | np.integer):
        result = int(value)
    elif isinstance(value, float | np.floating) and float(value).is_integer():
        result = int(value)
    else:
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if result < 0:
        raise ValueError(f"{name} must be >= 0, got {result}")
    return result


def _check_probability(value: float, name: str, *, open_interval: bool = True) -> float:
    value = float(value)
    ok = 0.0 < value < 1.0 if open_interval else 0.0 <= value <= 1.0
    if not ok:
        bounds = "(0, 1)" if open_interval else "[0, 1]"
        raise ValueError(f"{name} must be in {bounds}, got {value}")
    return value


def _count_matrix(counts, name: str = "counts") -> np.ndarray:
    """A 2-D array of non-negative finite counts, as float64."""
    array = np.asarray(counts, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional (items x categories), got {array.ndim}-D")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{name} must hold non-negative finite counts")
    return array


def _z_two_sided(confidence: float) -> float:
    """Standard-normal quantile z with P(|Z| <= z) = confidence."""
    confidence = _check_probability(confidence, "confidence")
    return float(norm.isf((1.0 - confidence) / 2.0))
