"""How many bytes a model's weights take, counted as they are stored (quantized tensors included)."""

from __future__ import annotations

from typing import Any


def weight_bytes(model: Any) -> int:
    """Bytes of the saved state (tied tensors counted once), as ``save_smashed`` would store it."""
    from smashconfig.apply.saving import state_tensors

    seen = set()
    total = 0
    for tensor in state_tensors(model).values():
        key = (tensor.data_ptr(), tensor.nbytes)
        if key not in seen:
            seen.add(key)
            total += tensor.nbytes
    return total
