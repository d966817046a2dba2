"""What kind of layer a module is, told without importing any backend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

if TYPE_CHECKING:
    from torch import nn

ADAPTER_PARTS = frozenset(
    {"lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B", "lora_dropout", "lora_magnitude_vector"}
)


def is_quantized(module: "nn.Module") -> bool:
    """Whether ``module`` is an optimum-quanto quantized module (``QLinear``, ``QConv2d``, ...)."""
    attributes = module.__dict__  # quanto keeps both as plain attributes; no Module.__getattr__ fallback
    return "weight_qtype" in attributes and "activation_qtype" in attributes


def is_adapter_internal(path: str) -> bool:
    """Whether ``path`` lies inside a PEFT LoRA adapter (its ``lora_A`` / ``lora_B`` / ... submodules)."""
    return not ADAPTER_PARTS.isdisjoint(path.split("."))


def has_adapter(module: "nn.Module") -> bool:
    """Whether ``module`` is a PEFT LoRA layer (it wraps a base layer and holds adapters)."""
    return "lora_A" in module._modules


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
