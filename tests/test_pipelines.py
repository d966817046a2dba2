"""Real pipelines built from configs: pruna's target_modules tutorial on Flux, and the defaults of
diffusers and transformers pipelines (DESIGN.md section 5)."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from smashconfig import SmashConfig, load_smashed, plan_smash, save_smashed, smash
from smashconfig.errors import NoTargetsError
from smashconfig.target_modules import expand_list_of_targeted_paths, explain_targets
from smashconfig.target_modules.tree import components

import pipelines
from models import leaf_paths

TUTORIAL = {"include": ["transformer.*"], "exclude": ["*embed*"]}


def qlinear_paths(pipe) -> list:
    return [
        f"{name}.{path}" if path else name
        for name, root in components(pipe).items()
        for path, module in root.named_modules()
        if type(module).__name__ == "QLinear"
    ]


def transformer_output(pipe) -> torch.Tensor:
    """The Flux transformer's output on fixed inputs (the denoising step the tutorial quantizes)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        return pipe.transformer(
            hidden_states=torch.randn(1, 16, 4, generator=generator),
            encoder_hidden_states=torch.randn(1, 8, 32, generator=generator),
            pooled_projections=torch.randn(1, 32, generator=generator),
            timestep=torch.tensor([0.5]),
            img_ids=torch.zeros(16, 3),
            txt_ids=torch.zeros(8, 3),
        ).sample


def tutorial_config(weight_bits: str = "qint8") -> SmashConfig:
    """The tutorial's lines, as written there."""
    smash_config = SmashConfig()
    smash_config["quantizer"] = "quanto"
    smash_config["quanto_weight_bits"] = weight_bits
    smash_config["quanto_target_modules"] = {
        "include": ["transformer.*"],
        "exclude": ["*embed*"],
    }
    return smash_config


# ----- pruna's tutorial on a tiny Flux --------------------------------------------------------------


def test_the_tutorial_selection_quantizes_the_transformer_without_its_embedders():
    pipe = pipelines.tiny_flux_pipeline()
    reference = transformer_output(pipe)
    embedders = [p for p in leaf_paths(pipe, nn.Linear, under="transformer") if "embed" in p]

    pipe = smash(pipe, tutorial_config())

    quantized = qlinear_paths(pipe)
    assert len(quantized) == 28 - 6 and len(embedders) == 6
    assert all(p.startswith("transformer.") and "embed" not in p for p in quantized)
    assert not any(type(m).__name__ == "QLinear" for m in pipe.text_encoder.modules())
    smashed = transformer_output(pipe)
    assert torch.nn.functional.cosine_similarity(reference.flatten(), smashed.flatten(), dim=0) > 0.99


def test_the_tutorial_flow_saves_and_reloads(tmp_path):
    pipe = smash(pipelines.tiny_flux_pipeline(), tutorial_config())
    expected = transformer_output(pipe)
    save_smashed(pipe, tmp_path / "flux")

    fresh = pipelines.tiny_flux_pipeline()
    loaded = load_smashed(tmp_path / "flux", fresh)

    assert qlinear_paths(loaded) == qlinear_paths(pipe)
    saved_state, loaded_state = pipe.transformer.state_dict(), loaded.transformer.state_dict()
    assert saved_state.keys() == loaded_state.keys()
    assert all(torch.equal(saved_state[k], loaded_state[k]) for k in saved_state)
    assert torch.equal(transformer_output(loaded), expected)


def test_the_tutorial_config_file_selects_the_same_modules(repo_root):
    pipe = pipelines.tiny_flux_pipeline()
    from_file = SmashConfig.from_yaml(repo_root / "configs" / "flux-transformer-int8.yaml")
    assert from_file["quanto_target_modules"] == TUTORIAL
    assert plan_smash(pipe, from_file).steps[0].acted == plan_smash(pipe, tutorial_config()).steps[0].acted


def test_prunas_add_form_gives_the_same_plan():
    pipe = pipelines.tiny_flux_pipeline()
    smash_config = SmashConfig()
    smash_config.add({"quanto": {"quanto_weight_bits": "qint8"}})
    smash_config.add({"quanto_target_modules": TUTORIAL})
    assert plan_smash(pipe, smash_config).to_dict() == plan_smash(pipe, tutorial_config()).to_dict()


@pytest.mark.slow
def test_the_tutorial_in_qint4():
    pipe = pipelines.tiny_flux_pipeline()
    reference = transformer_output(pipe)
    pipe = smash(pipe, tutorial_config("qint4"))
    assert len(qlinear_paths(pipe)) == 22
    smashed = transformer_output(pipe)
    assert torch.nn.functional.cosine_similarity(reference.flatten(), smashed.flatten(), dim=0) > 0.9


# ----- defaults on pipelines ------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["quanto", "lora"])
def test_flux_defaults_are_the_transformer_alone(algorithm):
    pipe = pipelines.tiny_flux_pipeline()
    inferred = SmashConfig([algorithm]).resolve_target_modules(pipe)[algorithm]
    assert expand_list_of_targeted_paths(inferred, pipe) == leaf_paths(pipe, nn.Linear, under="transformer")


@pytest.mark.parametrize("algorithm", ["quanto", "lora"])
def test_both_denoisers_of_a_wan22_pipeline_are_targeted_by_default(algorithm):
    pipe = pipelines.tiny_wan22_pipeline()
    inferred = SmashConfig([algorithm]).resolve_target_modules(pipe)[algorithm]
    paths = expand_list_of_targeted_paths(inferred, pipe)
    first = leaf_paths(pipe, nn.Linear, under="transformer")
    second = leaf_paths(pipe, nn.Linear, under="transformer_2")
    assert first and len(first) == len(second)
    assert paths == first + second
    explanation = explain_targets(None, pipe, algorithm)
    assert "denoiser components (transformer, transformer_2)" in explanation.record("text_encoder").rule


def test_wan22_smash_quantizes_both_denoisers_and_nothing_else():
    pipe = smash(pipelines.tiny_wan22_pipeline(), {"quanto": {}})
    quantized = qlinear_paths(pipe)
    assert {p.split(".")[0] for p in quantized} == {"transformer", "transformer_2"}
    assert len(quantized) == len(leaf_paths(pipe, nn.Linear, under="transformer")) * 2


def test_a_denoiser_under_another_name_is_found_by_its_class():
    class Custom:
        def __init__(self):
            self.backbone = pipelines.tiny_flux_transformer()
            self.text_encoder = pipelines.tiny_t5_encoder()

    pipe = Custom()
    inferred = SmashConfig(["quanto"]).resolve_target_modules(pipe)["quanto"]
    paths = expand_list_of_targeted_paths(inferred, pipe)
    assert paths == leaf_paths(pipe, nn.Linear, under="backbone")


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("algorithm", ["quanto", "lora"])
def test_a_text_generation_pipeline_targets_its_model_without_the_head(algorithm, tied):
    pipe = pipelines.text_generation_pipeline(tie_word_embeddings=tied)
    inferred = SmashConfig([algorithm]).resolve_target_modules(pipe)[algorithm]
    paths = expand_list_of_targeted_paths(inferred, pipe)
    assert "model.lm_head" in inferred["exclude"]
    assert paths == [p for p in leaf_paths(pipe, nn.Linear, under="model") if p != "model.lm_head"]
    assert len(paths) == 14


def test_a_text_generation_pipeline_smashes_and_still_generates_logits():
    pipe = pipelines.text_generation_pipeline()
    ids = torch.randint(0, 100, (1, 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = pipe.model(input_ids=ids).logits
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        smash(pipe, {"quanto": {}})
    with torch.no_grad():
        after = pipe.model(input_ids=ids).logits
    assert type(pipe.model.lm_head) is nn.Linear
    assert torch.nn.functional.cosine_similarity(before.flatten(), after.flatten(), dim=0) > 0.99


def test_a_pipeline_without_denoiser_or_model_says_what_to_write():
    class Encoders:
        def __init__(self):
            self.text_encoder = pipelines.tiny_t5_encoder()
            self.vae = nn.Conv2d(3, 3, 1)

    with pytest.raises(NoTargetsError) as info:
        SmashConfig(["quanto"]).resolve_target_modules(Encoders())
    message = str(info.value)
    assert "text_encoder, vae" in message and "{'include': ['text_encoder.*']}" in message
    cfg = SmashConfig({"quanto": {"target_modules": {"include": ["text_encoder.*"]}}})
    assert plan_smash(Encoders(), cfg).steps[0].acted
