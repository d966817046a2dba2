"""torchao on transformers' fused MoE experts (3-D expert weights) of tiny DeepSeek-V3 / Qwen3-MoE models.

On CPU, int8 expert weights run only with the ``eager`` experts implementation; float8 weight-only
also runs with ``grouped_mm`` (transformers' default here). Elsewhere the algorithm skips the
experts and says why.
"""

from __future__ import annotations

import pytest
import torch

from smashconfig.contract.registry import default_registry

from smash_models import llama_ids

KINDS = ["deepseek_v3", "qwen3_moe"]


def tiny_moe(kind: str, implementation: str = "grouped_mm"):
    from transformers import AutoConfig, AutoModelForCausalLM

    common = dict(vocab_size=128, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
                  num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64)
    if kind == "deepseek_v3":
        config = AutoConfig.for_model(
            kind, first_k_dense_replace=1, n_routed_experts=4, num_experts_per_tok=2, n_shared_experts=1,
            num_key_value_heads=4, q_lora_rank=None, kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8,
            v_head_dim=16, n_group=1, topk_group=1, **common,
        )
    else:
        config = AutoConfig.for_model(kind, num_experts=4, num_experts_per_tok=2, num_key_value_heads=2, head_dim=16, **common)
    config._experts_implementation = implementation
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config).eval()


def experts_paths(model) -> list:
    return [name for name, m in model.named_modules() if type(m).__name__.endswith("Experts")]


def logits(model):
    with torch.no_grad():
        return model(llama_ids()).logits


@pytest.mark.parametrize("kind", KINDS)
def test_int8_skips_experts_under_grouped_mm_and_says_why(kind):
    model = tiny_moe(kind, "grouped_mm")
    torchao = default_registry().get("torchao")
    path = experts_paths(model)[0]
    experts = model.get_submodule(path)

    reason = torchao.skip_reason(path, experts, {"quant_type": "int8_weight_only"})

    assert reason.startswith(f"{type(experts).__name__} holds 3-D expert weights")
    assert "Int8Tensor" in reason and "aten.transpose" in reason and "float8_weight_only" in reason
    assert torchao.skip_reason(path, experts, {"quant_type": "float8_weight_only"}) is None
    assert torchao.selected_by_default(path, experts)
    assert torchao.skip_reason(path + ".act_fn", experts.act_fn, {"quant_type": "float8_weight_only"}).endswith(
        "is not quantized by torchao (it quantizes Linear layers, and fused MoE experts (3-D weights) where their "
        "CPU forward runs quantized)"
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "implementation, quant_type",
    [("eager", "int8_weight_only"), ("eager", "int8_dynamic_activation_int8_weight"), ("grouped_mm", "float8_weight_only")],
)
def test_quantized_experts_run_forward_where_the_algorithm_supports_them(kind, implementation, quant_type):
    model = tiny_moe(kind, implementation)
    reference = logits(model)
    torchao = default_registry().get("torchao")
    paths = experts_paths(model)
    params = {"quant_type": quant_type}
    assert all(torchao.skip_reason(p, model.get_submodule(p), params) is None for p in paths)

    torchao.apply(model, paths, params)

    experts = model.get_submodule(paths[0])
    assert experts.gate_up_proj.dim() == 3 and type(experts.gate_up_proj).__module__.startswith("torchao")
    assert "gate_up_proj.qdata" in " ".join(experts.state_dict())
    out = logits(model)
    assert torch.nn.functional.cosine_similarity(out.flatten(), reference.flatten(), dim=0) >= 0.99


def test_batched_mm_experts_are_skipped_for_every_type():
    model = tiny_moe("qwen3_moe", "batched_mm")
    torchao = default_registry().get("torchao")
    path = experts_paths(model)[0]
    experts = model.get_submodule(path)

    reasons = [torchao.skip_reason(path, experts, {"quant_type": q}) for q in ("int8_weight_only", "float8_weight_only")]

    assert all(r is not None and "batched_mm" in r and "aten.bmm" in r for r in reasons)
    assert not torchao.selected_by_default(path, experts)


@pytest.mark.parametrize("kind", KINDS)
def test_smash_on_a_moe_model_quantizes_its_linear_layers_and_still_runs(kind):
    from smashconfig import SmashConfig, smash

    model = tiny_moe(kind)
    reference = logits(model)

    smash(model, SmashConfig(["torchao"]))

    acted = model.smash_plan.step("torchao").acted
    assert acted and "lm_head" not in acted
    assert torch.nn.functional.cosine_similarity(logits(model).flatten(), reference.flatten(), dim=0) >= 0.99
