"""Feeding calibration batches to a model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterable


def run_batches(model: Any, batches: Iterable[Any]) -> int:
    """Run ``model`` on every batch without gradients; returns how many batches ran.

    A mapping batch (a dict, a tokenizer's ``BatchEncoding``) is passed as keyword arguments, a
    tuple or list as positional arguments, anything else (a tensor) as the one positional argument.
    """
    import torch

    count = 0
    with torch.no_grad():
        for batch in batches:
            if isinstance(batch, Mapping):
                model(**batch)
            elif isinstance(batch, (tuple, list)):
                model(*batch)
            else:
                model(batch)
            count += 1
    return count
