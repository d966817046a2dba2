"""Models for the explain, lint, fold and verify tests, built from configurations (no hub).

Import as ``from explain_models import ...``: tests/conftest.py puts this folder on ``sys.path``.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

import models


def meta_llama(num_hidden_layers: int = 30, tie_word_embeddings: bool = False) -> nn.Module:
    """A LlamaForCausalLM (hidden size 64) with ``num_hidden_layers`` layers, on the meta device."""
    from transformers import LlamaForCausalLM

    config = models.llama_config(num_hidden_layers=num_hidden_layers, tie_word_embeddings=tie_word_embeddings)
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    return model.eval()


def llama_without_v_proj(num_hidden_layers: int = 30, missing: Iterable[int] = range(25, 30)) -> nn.Module:
    """A meta-device Llama whose layers in ``missing`` have no ``self_attn.v_proj``."""
    model = meta_llama(num_hidden_layers)
    for i in missing:
        del model.model.layers[i].self_attn.v_proj
    return model


def llava(meta: bool = True) -> nn.Module:
    """A LlavaForConditionalGeneration: ``model.vision_tower`` (CLIP), ``model.language_model`` (Llama), ``lm_head``."""
    from transformers import CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration

    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
        projection_dim=32,
    )
    text = models.llama_config()
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=127)
    torch.manual_seed(models.SEED)
    if meta:
        with torch.device("meta"):
            return LlavaForConditionalGeneration(config).eval()
    return LlavaForConditionalGeneration(config).eval()


def rename_module(model: nn.Module, path: str, new_name: str) -> nn.Module:
    """Move the submodule at ``path`` to ``new_name`` under the same parent; returns ``model``."""
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path)
    child = parent._modules[name]
    delattr(parent, name)
    parent.add_module(new_name, child)
    return model


def module_paths(model: nn.Module) -> list:
    """Every submodule path of ``model``, root excluded, in ``named_modules()`` order."""
    return [name for name, _ in model.named_modules()][1:]


def demo(model: Any, name: str = "test-model") -> Any:
    """A ``DemoModel`` wrapping ``model``, for handing to the command line in place of a built-in one."""
    from smashconfig.cli.demo import DemoModel, logits

    return DemoModel(name, model, {"input_ids": torch.zeros(1, 4, dtype=torch.long)}, logits)
