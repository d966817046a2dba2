from __future__ import annotations

import json
import re
import warnings

import pytest
import torch
from torch import nn

from smashconfig import SmashConfig, SmashPlan, plan_smash
from smashconfig.errors import NoTargetsError, PlanError, SmashConfigError, TargetPatternWarning

import models
from models import leaf_paths
from smash_models import assert_unchanged, capture

LAYER0 = [
    "model.layers.0",
    "model.layers.0.self_attn",
    "model.layers.0.self_attn.q_proj",
    "model.layers.0.self_attn.k_proj",
    "model.layers.0.self_attn.v_proj",
    "model.layers.0.self_attn.o_proj",
    "model.layers.0.mlp",
    "model.layers.0.mlp.gate_proj",
    "model.layers.0.mlp.up_proj",
    "model.layers.0.mlp.down_proj",
    "model.layers.0.mlp.act_fn",
    "model.layers.0.input_layernorm",
    "model.layers.0.post_attention_layernorm",
]


def layer0_config(**quanto) -> SmashConfig:
    return SmashConfig({"quanto": {**quanto, "target_modules": {"include": ["model.layers.0.*"]}}})


def test_step_records_params_patterns_paths_and_skips(tiny_llama):
    plan = plan_smash(tiny_llama, layer0_config(weight_bits="qfloat8"))

    assert isinstance(plan, SmashPlan)
    assert [s.algorithm for s in plan.steps] == ["quanto"]
    step = plan.step("quanto")
    assert step.group == "quantizer"
    assert step.params == {"weight_bits": "qfloat8", "activation_bits": "none"}
    assert step.target_modules == {"include": ["model.layers.0.*"], "exclude": []}
    assert step.inferred is False
    assert step.targeted == LAYER0
    assert step.acted == leaf_paths(tiny_llama, nn.Linear, under="model.layers.0")
    assert step.skipped == {
        "model.layers.0.mlp.act_fn": "SiLUActivation is not quantizable by quanto",
        "model.layers.0.input_layernorm": "LlamaRMSNorm is not quantizable by quanto",
        "model.layers.0.post_attention_layernorm": "LlamaRMSNorm is not quantizable by quanto",
    }
    assert step.containers == 3
    assert step.needs_calibration is False
    assert len(step.targeted) == len(step.acted) + len(step.skipped) + step.containers
    assert plan.model == "LlamaForCausalLM"
    assert plan.modules == len(list(tiny_llama.named_modules())) - 1


def test_str_is_a_readable_table_with_counts_and_reasons(tiny_llama):
    text = str(plan_smash(tiny_llama, layer0_config()))

    lines = text.splitlines()
    assert lines[0].startswith("SmashPlan for LlamaForCausalLM")
    row = next(line for line in lines if "quanto (quantizer)" in line)
    assert "weight_bits=qint8" in row and "activation_bits=none" in row
    assert re.search(r"quanto \(quantizer\).*\s13\s+7\s+3\s*$", row), row
    assert "as written" in text and "model.layers.0.*" in text
    assert "LlamaRMSNorm is not quantizable by quanto" in text
    assert "model.layers.0.input_layernorm" in text
    assert "3 targeted containers" in text
    assert "Traceback" not in text and "PlanStep(" not in text


def test_inferred_targets_are_marked_and_leave_out_the_head(tiny_llama):
    plan = plan_smash(tiny_llama, SmashConfig(["quanto", "lora"]))

    linears = leaf_paths(tiny_llama, nn.Linear)
    body = [p for p in linears if p != "lm_head"]
    for step in plan.steps:
        assert step.inferred is True
        assert step.target_modules["exclude"] == ["lm_head"]
        assert step.acted == body
        assert step.skipped == {}
    assert "(inferred)" in str(plan)
    assert "as written" not in str(plan)


def test_inferred_targets_leave_out_a_tied_head(tiny_llama_tied):
    assert tiny_llama_tied.lm_head.weight is tiny_llama_tied.model.embed_tokens.weight
    step = plan_smash(tiny_llama_tied, SmashConfig(["quanto"])).step("quanto")

    assert "lm_head" not in step.acted
    assert "lm_head" in step.target_modules["exclude"]
    assert step.acted == [p for p in leaf_paths(tiny_llama_tied, nn.Linear) if p != "lm_head"]


def test_written_patterns_appear_in_normal_form_and_the_users_dict_is_kept(tiny_llama):
    written = {"include": "model.layers.1.self_attn.*", "exclude": "*v_proj"}
    cfg = SmashConfig({"lora": {"target_modules": written}})
    step = plan_smash(tiny_llama, cfg).step("lora")

    assert written == {"include": "model.layers.1.self_attn.*", "exclude": "*v_proj"}
    assert step.target_modules == {"include": ["model.layers.1.self_attn.*"], "exclude": ["*v_proj"]}
    assert step.inferred is False
    assert step.acted == [f"model.layers.1.self_attn.{n}" for n in ("q_proj", "k_proj", "o_proj")]
    assert step.targeted == ["model.layers.1.self_attn"] + step.acted


def test_steps_run_quantizer_then_adapter_whatever_the_order_of_adding(tiny_llama):
    cfg = SmashConfig()
    cfg.add(["lora", "quanto"])
    plan = plan_smash(tiny_llama, cfg)

    assert [(s.algorithm, s.group) for s in plan.steps] == [("quanto", "quantizer"), ("lora", "adapter")]


def test_hyperparameters_are_plain_values_with_defaults_filled_in(tiny_llama):
    cfg = SmashConfig({"quanto": {"weight_bits": "qint4"}, "lora": {"r": 4, "dropout": 0.25}})
    plan = plan_smash(tiny_llama, cfg)

    assert plan.step("quanto").params == {"weight_bits": "qint4", "activation_bits": "none"}
    lora = plan.step("lora").params
    assert lora == {"r": 4, "alpha": 16, "dropout": 0.25}
    assert type(lora["r"]) is int and type(lora["alpha"]) is int and type(lora["dropout"]) is float
    assert "target_modules" not in lora


def test_to_dict_is_json_and_replays(tiny_llama):
    cfg = SmashConfig({"quanto": {"weight_bits": "qfloat8"}, "lora": {"r": 4}})
    plan = plan_smash(tiny_llama, cfg)
    data = plan.to_dict()

    text = json.dumps(data)
    assert json.loads(text) == data
    assert data["config"] == cfg.to_dict()
    assert [s["algorithm"] for s in data["steps"]] == ["quanto", "lora"]
    assert data["steps"][0]["acted"] == plan.step("quanto").acted
    assert SmashPlan.from_dict(json.loads(text)).to_dict() == data
    assert SmashPlan.from_json(plan.to_json()).to_dict() == data
    assert str(SmashPlan.from_json(plan.to_json())) == str(plan)


def test_plan_is_the_same_for_a_dict_and_a_config(tiny_llama):
    as_dict = {"quanto": {"weight_bits": "qint2"}}
    assert plan_smash(tiny_llama, as_dict).to_dict() == plan_smash(tiny_llama, SmashConfig(as_dict)).to_dict()
    assert as_dict == {"quanto": {"weight_bits": "qint2"}}


def test_lora_skips_layers_it_does_not_adapt_and_says_why(tiny_bert):
    step = plan_smash(tiny_bert, SmashConfig({"lora": {"target_modules": {"include": ["encoder.layer.0.*"]}}})).step("lora")

    assert step.acted == leaf_paths(tiny_bert, nn.Linear, under="encoder.layer.0")
    assert step.skipped["encoder.layer.0.output.LayerNorm"].startswith("LayerNorm is not adapted by lora")
    assert step.skipped["encoder.layer.0.attention.self.dropout"].startswith("Dropout is not adapted by lora")
    assert set(step.skipped) == set(leaf_paths(tiny_bert, nn.LayerNorm, nn.Dropout, under="encoder.layer.0")) | {
        "encoder.layer.0.intermediate.intermediate_act_fn"
    }


def test_quanto_acts_on_layernorm_only_when_activations_are_quantized(tiny_bert):
    include = {"include": ["encoder.layer.0.attention.output.*"]}
    weights_only = plan_smash(tiny_bert, SmashConfig({"quanto": {"target_modules": include}})).step("quanto")
    w8a8 = plan_smash(
        tiny_bert, SmashConfig({"quanto": {"activation_bits": "qint8", "target_modules": include}})
    ).step("quanto")

    norm = "encoder.layer.0.attention.output.LayerNorm"
    assert norm not in weights_only.acted
    assert "activation_bits" in weights_only.skipped[norm]
    assert weights_only.needs_calibration is False
    assert w8a8.acted == ["encoder.layer.0.attention.output.dense", norm]
    assert w8a8.needs_calibration is True
    text = str(plan_smash(tiny_bert, SmashConfig({"quanto": {"activation_bits": "qint8", "target_modules": include}})))
    assert "needs calibration_data" in text


def test_pipeline_plan_targets_the_denoiser_with_prefixed_paths(pipeline):
    plan = plan_smash(pipeline, SmashConfig(["quanto", "lora"]))

    expected = leaf_paths(pipeline, nn.Linear, under="transformer")
    assert expected and all(p.startswith("transformer.") for p in expected)
    for step in plan.steps:
        assert step.acted == expected
        assert step.inferred
    assert plan.model == "Pipeline"


@pytest.mark.parametrize(
    "build",
    [
        lambda: models.tiny_llama(),
        lambda: models.tiny_llama(tie_word_embeddings=True),
        models.tiny_bert,
        models.sequential,
        models.pipeline,
    ],
    ids=["llama", "llama-tied", "bert", "sequential", "pipeline"],
)
@pytest.mark.parametrize(
    "config",
    [
        {"quanto": {"weight_bits": "qint8"}, "lora": {"r": 2}},
        {"quanto": {"weight_bits": "qint4", "activation_bits": "qint8"}},
    ],
    ids=["qlora", "w4a8"],
)
def test_planning_touches_nothing(build, config):
    model = build()
    before = capture(model)

    plan = plan_smash(model, config)

    assert plan.steps
    assert_unchanged(model, before)


def test_plan_works_on_meta_weights_and_matches_the_documented_example(repo_root, smollm_meta):
    before = capture(smollm_meta)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TargetPatternWarning)
        plan = plan_smash(smollm_meta, SmashConfig.from_yaml(repo_root / "configs" / "smollm2-first-two-layers.yaml"))

    step = plan.step("quanto")
    expected = []
    for layer in (0, 1):
        attn = f"model.layers.{layer}.self_attn"
        expected += [attn, f"{attn}.q_proj", f"{attn}.k_proj", f"{attn}.o_proj"]
    assert step.targeted == expected
    assert step.acted == [p for p in expected if p.endswith("_proj")]
    assert step.containers == 2
    assert step.warnings == []
    assert_unchanged(smollm_meta, before)
    assert all(p.is_meta for p in smollm_meta.parameters())


def test_plan_is_deterministic(tiny_llama):
    cfg = SmashConfig(["quanto", "lora"])
    assert plan_smash(tiny_llama, cfg).to_dict() == plan_smash(tiny_llama, cfg).to_dict()


def test_a_config_with_no_algorithm_is_refused(tiny_llama):
    before = capture(tiny_llama)
    with pytest.raises(PlanError, match="no algorithm"):
        plan_smash(tiny_llama, SmashConfig())
    assert_unchanged(tiny_llama, before)


def test_targets_the_algorithm_cannot_act_on_are_refused_with_the_reason(tiny_llama):
    before = capture(tiny_llama)
    with pytest.raises(PlanError) as caught:
        plan_smash(tiny_llama, {"quanto": {"target_modules": {"include": ["*norm*"]}}})
    message = str(caught.value)
    assert "quanto" in message and "no module" in message
    assert "LlamaRMSNorm is not quantizable by quanto" in message
    assert_unchanged(tiny_llama, before)


def test_patterns_that_match_nothing_are_refused_naming_them(tiny_llama):
    with pytest.raises(NoTargetsError) as caught:
        plan_smash(tiny_llama, {"quanto": {}, "lora": {"target_modules": {"include": ["decoder.*"]}}})
    assert "decoder.*" in str(caught.value)
    assert "lora_target_modules" in str(caught.value)
    assert isinstance(caught.value, SmashConfigError)


def test_verify_compares_a_plan_with_another_model(tiny_llama):
    plan = plan_smash(tiny_llama, SmashConfig(["quanto"]))

    same = plan.verify(models.tiny_llama(seed=5))
    assert same.ok and same
    deeper = plan.verify(models.tiny_llama(num_hidden_layers=3))
    assert not deeper.ok
    (step,) = deeper.steps
    assert step.lost == []
    assert step.added == leaf_paths(models.tiny_llama(num_hidden_layers=3), nn.Linear, under="model.layers.2")
    assert "model.layers.2" in str(deeper)


def test_plan_of_activation_quantization_does_not_run_the_model(tiny_llama):
    calls = []
    handle = nn.modules.module.register_module_forward_pre_hook(lambda module, args: calls.append(module))
    try:
        plan_smash(tiny_llama, {"quanto": {"activation_bits": "qint8"}})
    finally:
        handle.remove()
    assert calls == []
    assert torch.is_grad_enabled()


def test_a_step_acting_on_nothing_says_which_layers_the_algorithm_supports(tiny_llama):
    with pytest.raises(PlanError) as caught:
        plan_smash(tiny_llama, {"quanto": {"target_modules": {"include": ["model.layers.0"]}}})
    message = str(caught.value)
    assert "targets 1 module of LlamaForCausalLM (1 container)" in message
    assert "Target layers quanto supports (Linear and Conv2d layers" in message
    assert "'model.layers.0.*'" in message


def test_asking_a_plan_for_a_step_it_lacks_names_its_steps(tiny_llama):
    from smashconfig.errors import UnknownAlgorithmError

    plan = plan_smash(tiny_llama, SmashConfig(["quanto"]))
    with pytest.raises(UnknownAlgorithmError, match=r"no step 'quant'; its steps are 'quanto'.*Did you mean 'quanto'"):
        plan.step("quant")
