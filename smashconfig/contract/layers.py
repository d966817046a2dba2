"""Facts about layers that algorithms share, told without importing any backend."""

from __future__ import annotations

from typing import Any, Optional, Sequence


def first_on_meta(model: Any, paths: Sequence[str]) -> Optional[str]:
    """The first of ``paths`` whose ``weight`` lives on the meta device (not loaded), or ``None``."""
    import torch

    from smashconfig.target_modules.tree import index_modules

    index = index_modules(model)
    for path in paths:
        weight = getattr(index.module(path), "weight", None)
        if isinstance(weight, torch.Tensor) and weight.is_meta:
            return path
    return None
