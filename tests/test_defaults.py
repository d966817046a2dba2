from __future__ import annotations

import json
import warnings
from typing import Any, List

import pytest
import torch
from torch import nn

from smashconfig import SmashConfig
from smashconfig.errors import NoTargetsError, TargetPatternWarning
from smashconfig.contract.registry import default_registry
from smashconfig.target_modules import expand_list_of_targeted_paths, normalize_target_modules

import models
from models import leaf_paths

ALGORITHMS = ["quanto", "lora"]


def default_of(name: str, model: Any):
    return default_registry().get(name).default_target_modules(model)


def expand(target_modules, model) -> List[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetPatternWarning)
        return expand_list_of_targeted_paths(target_modules, model)


def assert_ordinary(value) -> None:
    assert type(value) is dict
    assert set(value) == {"include", "exclude"}
    for key in ("include", "exclude"):
        assert type(value[key]) is list
        assert all(type(p) is str and p for p in value[key])
    assert value["include"]
    assert normalize_target_modules(value) == value
    assert json.loads(json.dumps(value)) == value


def path_of(model: nn.Module, module: nn.Module) -> str:
    return next(name for name, m in model.named_modules() if m is module)


def without(paths: List[str], *removed: str) -> List[str]:
    assert all(r in paths for r in removed)
    return [p for p in paths if p not in removed]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_causal_lm_with_untied_head(tiny_llama, algorithm):
    head = path_of(tiny_llama, tiny_llama.get_output_embeddings())
    assert head == "lm_head"
    value = default_of(algorithm, tiny_llama)
    assert_ordinary(value)
    expected = without(leaf_paths(tiny_llama, nn.Linear), head)
    assert len(expected) == 14
    assert expand(value, tiny_llama) == expected


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_causal_lm_with_tied_head(tiny_llama_tied, algorithm):
    assert tiny_llama_tied.lm_head.weight is tiny_llama_tied.model.embed_tokens.weight
    value = default_of(algorithm, tiny_llama_tied)
    assert_ordinary(value)
    assert expand(value, tiny_llama_tied) == without(leaf_paths(tiny_llama_tied, nn.Linear), "lm_head")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_causal_lm_on_the_meta_device(smollm_meta, algorithm):
    value = default_of(algorithm, smollm_meta)
    assert_ordinary(value)
    paths = expand(value, smollm_meta)
    assert paths == without(leaf_paths(smollm_meta, nn.Linear), "lm_head")
    assert len(paths) == 30 * 7


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_bert", "pipeline"])
def test_inferred_value_expands_without_pattern_warnings(request, fixture, algorithm):
    model = request.getfixturevalue(fixture)
    value = default_of(algorithm, model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TargetPatternWarning)
        expand_list_of_targeted_paths(value, model)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_embeddings_are_never_default_targets(tiny_llama, algorithm):
    paths = expand(default_of(algorithm, tiny_llama), tiny_llama)
    assert "model.embed_tokens" not in paths
    assert not any(isinstance(tiny_llama.get_submodule(p), nn.Embedding) for p in paths)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_bert_without_head_targets_every_linear(tiny_bert, algorithm):
    value = default_of(algorithm, tiny_bert)
    assert_ordinary(value)
    expected = leaf_paths(tiny_bert, nn.Linear)
    assert "pooler.dense" in expected
    assert len(expected) == 2 * 6 + 1
    assert expand(value, tiny_bert) == expected


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_head_returned_by_get_output_embeddings(algorithm):
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    model = BertForMaskedLM(
        BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    )
    head = path_of(model, model.get_output_embeddings())
    assert head == "cls.predictions.decoder"
    paths = expand(default_of(algorithm, model), model)
    assert paths == without(leaf_paths(model, nn.Linear), head)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_linear_tied_to_an_input_embedding_is_the_head(algorithm):
    model = models.TiedLM()
    assert not hasattr(model, "get_output_embeddings")
    value = default_of(algorithm, model)
    assert_ordinary(value)
    assert expand(value, model) == ["hidden"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_top_level_lm_head_is_the_head(algorithm):
    model = models.HeadedModel()
    assert expand(default_of(algorithm, model), model) == ["body.0", "body.2"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sequential(sequential, algorithm):
    value = default_of(algorithm, sequential)
    assert_ordinary(value)
    assert expand(value, sequential) == ["0", "2"]


def test_quanto_default_includes_conv2d():
    model = models.ConvNet()
    expected = leaf_paths(model, nn.Linear, nn.Conv2d)
    assert expected == ["stem", "body.0", "classifier"]
    assert expand(default_of("quanto", model), model) == expected


def test_lora_default_is_linear_only():
    model = models.ConvNet()
    assert expand(default_of("lora", model), model) == ["classifier"]


def test_lora_default_leaves_out_embeddings():
    model = models.TextEncoder()
    assert expand(default_of("lora", model), model) == ["fc"]
    assert expand(default_of("quanto", model), model) == ["fc"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_pipeline_targets_only_the_denoiser(pipeline, algorithm):
    value = default_of(algorithm, pipeline)
    assert_ordinary(value)
    paths = expand(value, pipeline)
    expected = leaf_paths(pipeline, nn.Linear, under="transformer")
    assert "transformer.proj_out" in expected
    assert "transformer.blocks.1.ff" in expected
    assert paths == expected
    assert all(p.startswith("transformer.") for p in paths)


def test_pipeline_vae_convolutions_are_not_quantized_by_default(pipeline):
    paths = expand(default_of("quanto", pipeline), pipeline)
    assert not any(p.startswith(("vae", "text_encoder")) for p in paths)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_pipeline_with_a_unet(algorithm):
    pipe = models.Pipeline(models.Transformer(), models.TextEncoder(), models.VAE())
    pipe.unet = pipe.__dict__.pop("transformer")
    paths = expand(default_of(algorithm, pipe), pipe)
    assert paths == leaf_paths(pipe, nn.Linear, under="unet")
    assert paths


def test_pipeline_without_a_denoiser_is_an_error():
    pipe = models.Pipeline(models.Transformer(), models.TextEncoder(), models.VAE())
    del pipe.transformer
    with pytest.raises(NoTargetsError) as info:
        default_of("quanto", pipe)
    assert "text_encoder" in str(info.value)


@pytest.mark.parametrize(
    "fixture",
    ["tiny_llama", "tiny_llama_tied", "tiny_bert", "sequential", "pipeline"],
)
def test_resolve_target_modules_uses_each_algorithms_default(request, fixture):
    model = request.getfixturevalue(fixture)
    resolved = SmashConfig(ALGORITHMS).resolve_target_modules(model)
    assert list(resolved) == ALGORITHMS
    for algorithm in ALGORITHMS:
        assert resolved[algorithm] == default_of(algorithm, model)
        assert_ordinary(resolved[algorithm])


def test_inferred_value_can_be_written_back_into_a_config(tiny_llama):
    inferred = default_of("quanto", tiny_llama)
    cfg = SmashConfig("quanto")
    cfg["quanto_target_modules"] = inferred
    assert cfg.resolve_target_modules(tiny_llama)["quanto"] == inferred
    assert SmashConfig.from_yaml(cfg.to_yaml())["quanto_target_modules"] == inferred


def test_default_of_a_model_with_nothing_to_target():
    with pytest.raises(NoTargetsError):
        default_of("lora", nn.Sequential(nn.ReLU(), nn.Embedding(4, 2)))


def test_inference_does_not_touch_the_model(tiny_llama):
    before = {k: v.clone() for k, v in tiny_llama.state_dict().items()}
    modules = [m for m in tiny_llama.modules()]
    for algorithm in ALGORITHMS:
        default_of(algorithm, tiny_llama)
    assert [m for m in tiny_llama.modules()] == modules
    after = tiny_llama.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
