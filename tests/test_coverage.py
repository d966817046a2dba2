"""Coverage in every plan: the parameters and bytes a step acts on, and where the rest sits."""

from __future__ import annotations

import warnings

import pytest
import torch

from smashconfig import SmashConfig, plan_smash
from smashconfig.cli.models import load_model
from smashconfig.errors import CoverageWarning

MOE = {
    "deepseek_v3": dict(
        hidden_size=64, intermediate_size=128, moe_intermediate_size=32, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=4, n_routed_experts=8, num_experts_per_tok=2, first_k_dense_replace=1, vocab_size=256,
        q_lora_rank=16, kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8, n_group=1, topk_group=1,
    ),
    "qwen3_moe": dict(
        hidden_size=64, intermediate_size=128, moe_intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, num_experts=8, num_experts_per_tok=2, vocab_size=256, head_dim=16,
    ),
}
EXPERTS = {"deepseek_v3": "DeepseekV3Experts", "qwen3_moe": "Qwen3MoeExperts"}


def moe_on_meta(name: str) -> torch.nn.Module:
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(name, **MOE[name])
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def plan_and_warnings(model, config):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = plan_smash(model, config)
    return plan, [w for w in caught if issubclass(w.category, CoverageWarning)]


@pytest.mark.parametrize("name", list(MOE))
def test_fused_moe_experts_left_in_float_warn_and_say_why(name):
    model = moe_on_meta(name)
    plan, caught = plan_and_warnings(model, SmashConfig(["quanto"]))

    coverage = plan.steps[0].coverage
    assert coverage["acted_body_params"] / coverage["body_params"] < 0.5
    largest = coverage["untouched"][0]
    assert largest["type"] == EXPERTS[name]
    assert "fused 3-D expert weights" in largest["why"]
    (warning,) = caught
    text = str(warning.message)
    assert EXPERTS[name] in text and "fused 3-D expert weights" in text and "quanto acts on only" in text
    assert "coverage:" in str(plan) and EXPERTS[name] in str(plan)


def test_the_demo_minilm_default_covers_the_body_and_does_not_warn():
    model = load_model("minilm").model
    plan, caught = plan_and_warnings(model, SmashConfig(["quanto"]))

    assert caught == []
    coverage = plan.steps[0].coverage
    assert coverage["acted_body_params"] / coverage["body_params"] > 0.95
    assert coverage["total_params"] == sum(p.numel() for p in model.parameters())


def test_counts_add_up_on_a_tiny_llama(tiny_llama):
    plan, caught = plan_and_warnings(tiny_llama, SmashConfig(["quanto"]))
    coverage = plan.steps[0].coverage

    linears = [m for p, m in tiny_llama.named_modules() if isinstance(m, torch.nn.Linear) and p != "lm_head"]
    assert coverage["params"] == sum(m.weight.numel() for m in linears)
    assert coverage["bytes"] == 4 * coverage["params"]
    embeddings = tiny_llama.model.embed_tokens.weight.numel() + tiny_llama.lm_head.weight.numel()
    assert coverage["body_params"] == coverage["total_params"] - embeddings
    assert caught == []


def test_tied_weights_are_counted_once(tiny_llama_tied):
    plan, _ = plan_and_warnings(tiny_llama_tied, SmashConfig(["quanto"]))
    unique = {id(p): p.numel() for p in tiny_llama_tied.parameters()}
    assert plan.steps[0].coverage["total_params"] == sum(unique.values())


def test_a_narrow_target_warns_naming_what_it_leaves(tiny_llama):
    config = SmashConfig({"quanto": {"target_modules": {"include": ["model.layers.0.self_attn.q_proj"]}}})
    plan, caught = plan_and_warnings(tiny_llama, config)

    (warning,) = caught
    assert "Linear" in str(warning.message) and "not targeted" in str(warning.message)
    assert plan.steps[0].coverage["untouched"][0]["type"] == "Linear"


def test_coverage_survives_json(tiny_llama):
    from smashconfig import SmashPlan

    plan, _ = plan_and_warnings(tiny_llama, SmashConfig(["quanto"]))
    again = SmashPlan.from_json(plan.to_json())
    assert again.steps[0].coverage == plan.steps[0].coverage
    assert str(again) == str(plan)
