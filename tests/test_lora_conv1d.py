"""LoRA on transformers' Conv1D layers (GPT-2 stores their weights transposed), and on the meta device."""

from __future__ import annotations

import pytest
import torch

from smashconfig import SmashConfig, load_smashed, plan_smash, save_smashed, smash
from smashconfig.errors import PlanError

import models
from smash_models import assert_unchanged, capture, meta_like, randomize_adapters

# lm_head is targeted on purpose, as the one Linear layer of GPT-2
pytestmark = pytest.mark.filterwarnings("ignore:.*the targets include the output head")

TARGETS = {"include": ["*attn.c_attn", "*mlp.c_fc", "lm_head"]}


def tiny_gpt2(seed: int = 0) -> torch.nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=64, n_positions=16, tie_word_embeddings=False)
    config.bos_token_id = config.eos_token_id = 0
    return GPT2LMHeadModel(config).eval()


def logits(model: torch.nn.Module) -> torch.Tensor:
    ids = torch.arange(8).reshape(1, 8) % 64
    with torch.no_grad():
        return model(ids).logits


def test_lora_adapts_conv1d_and_linear_layers_each_with_its_own_layout():
    from peft.tuners.lora import Linear as LoraLinear

    model = tiny_gpt2()
    expected = logits(model)

    smash(model, {"lora": {"r": 4, "target_modules": TARGETS}})

    acted = model.smash_plan.step("lora").acted
    assert acted == ["transformer.h.0.attn.c_attn", "transformer.h.0.mlp.c_fc",
                     "transformer.h.1.attn.c_attn", "transformer.h.1.mlp.c_fc", "lm_head"]
    for path in acted:
        layer = model.get_submodule(path)
        assert isinstance(layer, LoraLinear), path
        assert layer.fan_in_fan_out == (path != "lm_head"), path
    assert torch.equal(logits(model), expected)  # B starts at zero: the adapters change nothing yet


def test_lora_infers_conv1d_layers_by_default():
    model = tiny_gpt2()
    smash(model, SmashConfig(["lora"]))
    assert model.smash_plan.step("lora").acted == [
        f"transformer.h.{i}.{name}" for i in range(2) for name in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
    ]


def test_merging_conv1d_adapters_keeps_the_outputs():
    model = tiny_gpt2()
    smash(model, {"lora": {"r": 4, "target_modules": TARGETS}})
    randomize_adapters(model)
    adapted = logits(model)
    assert not torch.equal(adapted, logits(tiny_gpt2()))

    for path in model.smash_plan.step("lora").acted:
        model.get_submodule(path).merge()

    assert torch.allclose(logits(model), adapted, atol=1e-5)


def test_conv1d_adapters_survive_a_save_and_load(tmp_path):
    saved = smash(tiny_gpt2(), SmashConfig({"lora": {"r": 4, "target_modules": TARGETS}}))
    randomize_adapters(saved)
    expected = logits(saved)
    save_smashed(saved, tmp_path)

    loaded = load_smashed(tmp_path, meta_like(saved))

    assert torch.equal(logits(loaded), expected)


def test_lora_on_meta_weights_is_refused_before_anything_changes():
    model = models.smollm_meta()
    before = capture(model)
    plan_smash(model, SmashConfig(["lora"]))  # planning needs no weights

    with pytest.raises(PlanError, match="meta device"):
        smash(model, SmashConfig(["lora"]))

    assert_unchanged(model, before)
