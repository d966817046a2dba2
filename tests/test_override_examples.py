"""The override examples in configs/: smashed, saved and reloaded with outputs equal to the saved model's."""

from __future__ import annotations

import pytest
import torch

import models
from smash_models import llama_ids, llama_logits, randomize_adapters
from smashconfig import SmashConfig, load_smashed, save_smashed, smash


def thirty_block_llama(device: str = "cpu") -> torch.nn.Module:
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    with torch.device(device):
        return LlamaForCausalLM(models.llama_config(num_hidden_layers=30)).eval()


@pytest.mark.slow
def test_mixed_precision_example_round_trips(tmp_path, repo_root):
    config = SmashConfig.from_yaml(repo_root / "configs" / "quanto-mixed-precision.yaml")
    model = smash(thirty_block_llama(), config)
    layer = model.model.layers[5]
    assert layer.self_attn.q_proj.weight_qtype.name == "qint8"
    assert layer.mlp.up_proj.weight_qtype.name == "qint4"
    assert type(model.model.layers[0].mlp.up_proj) is torch.nn.Linear
    assert type(model.model.layers[29].self_attn.q_proj) is torch.nn.Linear
    ids = llama_ids(batch=2, length=8)
    expected = llama_logits(model, ids)

    save_smashed(model, tmp_path)
    loaded = load_smashed(tmp_path, thirty_block_llama("meta"))

    assert torch.equal(llama_logits(loaded, ids), expected)


def test_lora_per_module_ranks_example_round_trips(tmp_path, repo_root, tiny_llama):
    config = SmashConfig.from_yaml(repo_root / "configs" / "lora-per-module-ranks.yaml")
    model = smash(tiny_llama, config)
    attention = model.model.layers[0].self_attn
    assert attention.q_proj.lora_A["default"].out_features == 32
    assert attention.v_proj.lora_A["default"].out_features == 32
    assert attention.k_proj.lora_A["default"].out_features == 8
    assert attention.q_proj.scaling["default"] == 2.0 and attention.k_proj.scaling["default"] == 2.0
    randomize_adapters(model)
    expected = llama_logits(model)

    save_smashed(model, tmp_path)
    from smash_models import meta_llama

    loaded = load_smashed(tmp_path, meta_llama())

    assert torch.equal(llama_logits(loaded), expected)
