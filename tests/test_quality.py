from __future__ import annotations

import copy
from typing import Any, Dict

import pytest
import torch
from torch import nn

from smashconfig import SmashConfig, load_smashed, save_smashed, smash
from smashconfig.cli import models as demo_models

import models
from models import leaf_paths
from smash_models import (
    adapted_paths,
    assert_untargeted_unchanged,
    capture,
    features,
    llama_logits,
    meta_like,
    meta_llama,
    meta_pipeline,
    meta_sequential,
    modules_by_path,
    quantized_paths,
    randomize_adapters,
)


@pytest.fixture(scope="module")
def minilm() -> demo_models.DemoModel:
    return demo_models.minilm()


@pytest.fixture(scope="module")
def minilm_reference(minilm) -> torch.Tensor:
    return minilm.output(minilm.model)


@pytest.fixture
def minilm_copy(minilm) -> nn.Module:
    return copy.deepcopy(minilm.model)


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)


def expected_types(model: Any, config: Dict[str, Any], acted: list) -> None:
    from optimum.quanto import QLinear
    from peft.tuners.lora import Linear as LoraLinear

    found = modules_by_path(model)
    if "lora" in config:
        assert adapted_paths(model) == acted
        for path in acted:
            assert type(found[path]) is LoraLinear
            if "quanto" in config:
                assert type(found[path].get_base_layer()) is QLinear
        if "quanto" in config:
            assert quantized_paths(model) == [f"{p}.base_layer" for p in acted]
    else:
        assert quantized_paths(model) == acted
        assert all(type(found[p]) is QLinear for p in acted)


# ----- MiniLM: the real all-MiniLM-L6-v2 -------------------------------------------------------------


def test_minilm_is_the_real_model(minilm):
    assert type(minilm.model).__name__ == "BertModel"
    assert minilm.model.config.num_hidden_layers == 6
    assert minilm.model.config.hidden_size == 384
    assert minilm.inputs["input_ids"].shape[0] == len(demo_models.SENTENCES)
    assert not any(p.is_meta for p in minilm.model.parameters())


@pytest.mark.parametrize("bits, floor", [("qint8", 0.999), ("qfloat8", 0.99)])
def test_minilm_sentence_embeddings_stay_close(minilm, minilm_reference, minilm_copy, bits, floor):
    before = capture(minilm_copy)
    config = {"quanto": {"weight_bits": bits}}

    smash(minilm_copy, config)

    acted = minilm_copy.smash_plan.step("quanto").acted
    assert acted == leaf_paths(minilm.model, nn.Linear)
    expected_types(minilm_copy, config, acted)
    assert_untargeted_unchanged(minilm_copy, before, acted)
    similarity = cosine(minilm.output(minilm_copy), minilm_reference)
    assert similarity.numel() == len(demo_models.SENTENCES)
    assert similarity.min().item() >= floor
    assert not torch.equal(minilm.output(minilm_copy), minilm_reference)


def test_minilm_lora_on_attention_adapts_only_attention_and_starts_as_identity(
    minilm, minilm_reference, minilm_copy, repo_root
):
    cfg = SmashConfig.from_yaml(repo_root / "configs" / "lora-attention.yaml")
    before = capture(minilm_copy)

    smash(minilm_copy, cfg)

    acted = minilm_copy.smash_plan.step("lora").acted
    assert acted == [p for p in leaf_paths(minilm.model, nn.Linear) if ".attention." in p]
    expected_types(minilm_copy, {"lora": {}}, acted)
    assert_untargeted_unchanged(minilm_copy, before, acted)
    assert torch.equal(minilm.output(minilm_copy), minilm_reference)


def test_minilm_qlora_round_trip(minilm, minilm_reference, minilm_copy, repo_root, tmp_path):
    cfg = SmashConfig.from_yaml(repo_root / "configs" / "qlora.yaml")
    smash(minilm_copy, cfg)
    randomize_adapters(minilm_copy)
    expected = minilm.output(minilm_copy)
    assert cosine(expected, minilm_reference).min().item() < 0.9999
    save_smashed(minilm_copy, tmp_path)

    loaded = load_smashed(tmp_path, meta_like(minilm.model))

    max_abs_difference = (minilm.output(loaded) - expected).abs().max().item()
    assert max_abs_difference == 0
    assert adapted_paths(loaded) == adapted_paths(minilm_copy)
    assert quantized_paths(loaded) == quantized_paths(minilm_copy)


def test_minilm_int8_round_trip(minilm, minilm_copy, tmp_path):
    smash(minilm_copy, {"quanto": {"weight_bits": "qint8"}})
    expected = minilm.output(minilm_copy)
    save_smashed(minilm_copy, tmp_path)

    loaded = load_smashed(tmp_path, meta_like(minilm.model))

    max_abs_difference = (minilm.output(loaded) - expected).abs().max().item()
    assert max_abs_difference == 0


def test_minilm_activation_quantization_with_its_sample_inputs(minilm, minilm_reference, minilm_copy):
    smash(
        minilm_copy,
        {"quanto": {"weight_bits": "qfloat8", "activation_bits": "qfloat8"}},
        calibration_data=[minilm.inputs],
    )

    assert cosine(minilm.output(minilm_copy), minilm_reference).min().item() >= 0.99


# ----- the other real models: every combination ------------------------------------------------------

def _llama(tie: bool):
    return (
        lambda: models.tiny_llama(tie_word_embeddings=tie),
        lambda: meta_llama(tie_word_embeddings=tie),
        llama_logits,
    )


def _pipeline_forward(pipeline) -> torch.Tensor:
    with torch.no_grad():
        return pipeline.transformer(features())


def _sequential_forward(model) -> torch.Tensor:
    with torch.no_grad():
        return model(features())


MODELS = {
    "llama": _llama(False),
    "llama-tied": _llama(True),
    "pipeline": (models.pipeline, meta_pipeline, _pipeline_forward),
    "sequential": (models.sequential, meta_sequential, _sequential_forward),
}
CONFIGS = {
    "qint8": {"quanto": {"weight_bits": "qint8"}},
    "qfloat8": {"quanto": {"weight_bits": "qfloat8"}},
    "lora": {"lora": {"r": 2, "alpha": 4}},
    "qlora": {"quanto": {"weight_bits": "qint8"}, "lora": {"r": 2, "alpha": 4}},
}


@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("model_name", list(MODELS))
def test_smash_check_and_round_trip(tmp_path, model_name, config_name):
    build, build_meta, forward = MODELS[model_name]
    config = CONFIGS[config_name]
    model = build()
    reference = forward(model)
    before = capture(model)
    tied = model_name == "llama-tied"
    embedding = model.model.embed_tokens.weight if tied else None

    smash(model, config)

    acted = model.smash_plan.steps[-1].acted
    assert all(step.acted == acted for step in model.smash_plan.steps)
    expected_types(model, config, acted)
    assert_untargeted_unchanged(model, before, acted, expect_some=model_name != "sequential")
    out = forward(model)
    if config_name == "lora":
        assert torch.equal(out, reference)
    else:
        assert cosine(out, reference).min().item() >= 0.98
    if tied:
        assert model.lm_head.weight is embedding is model.model.embed_tokens.weight

    randomize_adapters(model)
    expected = forward(model)
    save_smashed(model, tmp_path)
    loaded = load_smashed(tmp_path, build_meta())
    max_abs_difference = (forward(loaded) - expected).abs().max().item()
    assert max_abs_difference == 0
    assert {p: type(m) for p, m in modules_by_path(loaded).items()} == {
        p: type(m) for p, m in modules_by_path(model).items()
    }
    if tied:
        assert loaded.lm_head.weight is loaded.model.embed_tokens.weight
