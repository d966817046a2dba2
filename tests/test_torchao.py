"""torchao: quantization on tiny Llama and BERT models, targets, plans, QLoRA, save/load, bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from smashconfig import SmashConfig, load_smashed, plan_smash, save_smashed, smash
from smashconfig.target_modules import explain_targets
from smashconfig.errors import IllegalValueError, PlanError, SmashError, UnsafeOperationError

import models
from models import leaf_paths
from smash_models import (
    assert_untargeted_unchanged,
    bert_inputs,
    capture,
    llama_ids,
    llama_logits,
    meta_llama,
    state,
)

QUANT_TYPES = ["int8_weight_only", "int8_dynamic_activation_int8_weight", "float8_weight_only"]
TENSOR_TYPES = {
    "int8_weight_only": "Int8Tensor",
    "int8_dynamic_activation_int8_weight": "Int8Tensor",
    "float8_weight_only": "Float8Tensor",
}
STORED = {"int8_weight_only": torch.int8, "int8_dynamic_activation_int8_weight": torch.int8, "float8_weight_only": torch.float8_e4m3fn}


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.nn.functional.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0).item()


def body_linears(model) -> list:
    return [p for p in leaf_paths(model, nn.Linear) if p != "lm_head"]


def torchao_weights(model) -> list:
    return [name for name, m in model.named_modules() if type(m._parameters.get("weight")).__module__.startswith("torchao")]


# ----- quantizing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("quant_type", QUANT_TYPES)
def test_every_body_linear_of_a_llama_is_quantized_and_the_output_stays_close(tiny_llama, quant_type):
    reference = llama_logits(tiny_llama)
    before = capture(tiny_llama)

    smash(tiny_llama, SmashConfig({"torchao": {"quant_type": quant_type}}))

    acted = tiny_llama.smash_plan.step("torchao").acted
    assert acted == body_linears(tiny_llama) and "lm_head" not in acted
    assert torchao_weights(tiny_llama) == acted
    weight = tiny_llama.model.layers[0].mlp.up_proj.weight
    assert type(weight).__name__ == TENSOR_TYPES[quant_type]
    assert weight.qdata.dtype == STORED[quant_type] and not weight.requires_grad
    assert isinstance(tiny_llama.model.layers[0].mlp.up_proj, nn.Linear)
    assert_untargeted_unchanged(tiny_llama, before, acted)
    assert cosine(llama_logits(tiny_llama), reference) >= 0.99


@pytest.mark.parametrize("quant_type", QUANT_TYPES)
def test_a_bert_encoder_keeps_its_output(tiny_bert, quant_type):
    inputs = bert_inputs()
    with torch.no_grad():
        reference = tiny_bert(**inputs).last_hidden_state

    smash(tiny_bert, SmashConfig({"torchao": {"quant_type": quant_type}}))

    assert torchao_weights(tiny_bert) == leaf_paths(tiny_bert, nn.Linear)
    with torch.no_grad():
        assert cosine(tiny_bert(**inputs).last_hidden_state, reference) >= 0.99


@pytest.mark.parametrize("granularity", [{"granularity": "per_tensor"}, {"granularity": "per_group", "group_size": 32}])
def test_int8_weight_only_granularities(tiny_llama, granularity):
    reference = llama_logits(tiny_llama)
    smash(tiny_llama, SmashConfig({"torchao": granularity}))

    scale = tiny_llama.model.layers[0].self_attn.q_proj.weight.scale
    assert scale.numel() == (1 if granularity["granularity"] == "per_tensor" else 64 * 64 // 32)
    assert cosine(llama_logits(tiny_llama), reference) >= 0.99


def test_only_the_targeted_modules_are_quantized(tiny_llama):
    include = {"include": ["model.layers.0.*"], "exclude": ["*v_proj"]}
    before = capture(tiny_llama)

    smash(tiny_llama, SmashConfig({"torchao": {"target_modules": include}}))

    expected = [p for p in leaf_paths(tiny_llama, nn.Linear, under="model.layers.0") if not p.endswith("v_proj")]
    assert torchao_weights(tiny_llama) == expected == tiny_llama.smash_plan.step("torchao").acted
    assert_untargeted_unchanged(tiny_llama, before, expected)


def test_the_plan_and_explain_show_torchao_and_leave_the_head_out(tiny_llama):
    plan = plan_smash(tiny_llama, SmashConfig(["torchao"]))
    step = plan.step("torchao")

    assert step.inferred and step.acted == body_linears(tiny_llama)
    assert "torchao (quantizer)" in str(plan)
    assert plan.to_dict()["steps"][0]["algorithm"] == "torchao"
    explained = explain_targets(None, tiny_llama, algorithm="torchao")
    assert explained.targeted == body_linears(tiny_llama)
    assert "output head" in explained.record("lm_head").rule
    assert "torchao targets Linear" in explained.record("model.layers.0.mlp.up_proj").rule
    assert not torchao_weights(tiny_llama)


def test_the_example_config_smashes_on_the_command_line(capsys, repo_root, tmp_path):
    from smashconfig.cli import main

    output = tmp_path / "out"
    code = main(["smash", str(repo_root / "configs" / "torchao-int8.yaml"), "--model", "tiny-llama", "--output", str(output)])
    out = capsys.readouterr().out

    assert code == 0
    assert "torchao" in out and "smaller" in out
    assert (output / "model.safetensors").is_file()


# ----- save and load -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [{"quant_type": q} for q in QUANT_TYPES] + [{"granularity": "per_group", "group_size": 32}],
    ids=QUANT_TYPES + ["per_group"],
)
def test_a_reloaded_model_gives_bit_identical_outputs(tmp_path, settings):
    saved = smash(models.tiny_llama(), SmashConfig({"torchao": settings}))
    expected = llama_logits(saved)
    save_smashed(saved, tmp_path / "s")

    for fresh in (meta_llama(), models.tiny_llama(seed=1)):
        loaded = load_smashed(tmp_path / "s", fresh)
        assert torch.equal(llama_logits(loaded), expected)
        assert torchao_weights(loaded) == torchao_weights(saved)
        weight = loaded.model.layers[1].mlp.down_proj.weight
        assert type(weight) is type(saved.model.layers[1].mlp.down_proj.weight) and not weight.is_meta


def test_the_saved_file_holds_plain_components_only(tmp_path):
    from safetensors import safe_open

    saved = smash(models.tiny_llama(), SmashConfig(["torchao"]))
    save_smashed(saved, tmp_path / "s")

    with safe_open(str(tmp_path / "s" / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        assert f.get_tensor("model.layers.0.self_attn.q_proj.weight.qdata").dtype == torch.int8
    assert "model.layers.0.self_attn.q_proj.weight.scale" in keys
    assert "model.layers.0.self_attn.q_proj.weight" not in keys
    assert "lm_head.weight" in keys


def test_a_component_of_the_wrong_dtype_is_refused_and_the_model_left_as_it_was(tmp_path):
    from safetensors.torch import load_file, save_file

    from smashconfig.errors import SavedModelError

    saved = smash(models.tiny_llama(), SmashConfig(["torchao"]))
    save_smashed(saved, tmp_path / "s")
    fresh = models.tiny_llama()
    reference = llama_logits(fresh)
    tensors = load_file(str(tmp_path / "s" / "model.safetensors"))
    key = "model.layers.0.mlp.up_proj.weight.scale"
    tensors[key] = tensors[key].double()
    save_file(tensors, str(tmp_path / "s" / "model.safetensors"))
    _rewrite_checksum(tmp_path / "s")

    with pytest.raises(SavedModelError, match="up_proj.weight.scale"):
        load_smashed(tmp_path / "s", fresh)
    assert not torchao_weights(fresh)
    assert torch.equal(llama_logits(fresh), reference)


def _rewrite_checksum(directory) -> None:
    import json

    from smashconfig.apply import saving

    manifest = json.loads((directory / saving.MANIFEST).read_text())
    manifest["files"][saving.WEIGHTS] = saving._sha256(directory / saving.WEIGHTS)
    manifest["manifest_sha256"] = saving._digest({k: v for k, v in manifest.items() if k != "manifest_sha256"})
    (directory / saving.MANIFEST).write_text(json.dumps(manifest))


# ----- LoRA on a torchao base ----------------------------------------------------------------------------


@pytest.mark.parametrize("quant_type", ["int8_weight_only", "float8_weight_only"])
def test_a_training_step_on_a_torchao_base_updates_only_the_adapters(tiny_llama, quant_type):
    smash(tiny_llama, SmashConfig({"torchao": {"quant_type": quant_type}, "lora": {"r": 4}}))
    tiny_llama.train()
    start = {k: v.clone() for k, v in state(tiny_llama).items()}
    optimizer = torch.optim.SGD([p for p in tiny_llama.parameters() if p.requires_grad], lr=0.5)
    ids = llama_ids(batch=4, length=12)

    for _ in range(2):
        optimizer.zero_grad()
        tiny_llama(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()

    end = state(tiny_llama)
    changed = {k for k in start if not torch.equal(start[k], end[k])}
    adapters = {k for k in start if "lora_" in k}
    assert changed == adapters
    assert all("lora_" in name for name, p in tiny_llama.named_parameters() if p.grad is not None)


def test_merging_lora_into_a_torchao_base_is_refused(tiny_llama):
    smash(tiny_llama, SmashConfig({"torchao": {}, "lora": {"r": 4}}))
    layer = tiny_llama.model.layers[0].self_attn.q_proj
    with torch.no_grad():
        layer.lora_B["default"].weight.fill_(0.5)
    reference = llama_logits(tiny_llama)

    with pytest.raises(UnsafeOperationError, match="merge"):
        layer.merge()

    assert not layer.merged
    assert torch.equal(llama_logits(tiny_llama), reference)


def test_lora_on_a_dynamic_activation_base_is_refused_and_the_model_restored(tiny_llama):
    reference = llama_logits(tiny_llama)
    keys = list(tiny_llama.state_dict())
    cfg = SmashConfig({"torchao": {"quant_type": "int8_dynamic_activation_int8_weight"}, "lora": {}})

    with pytest.raises(SmashError, match="no gradient"):
        smash(tiny_llama, cfg)

    assert not torchao_weights(tiny_llama)
    assert list(tiny_llama.state_dict()) == keys
    assert torch.equal(llama_logits(tiny_llama), reference)


def test_qlora_on_torchao_reloads_bit_identically(tmp_path):
    saved = smash(models.tiny_llama(), SmashConfig({"torchao": {}, "lora": {"r": 4}}))
    with torch.no_grad():
        for name, p in saved.named_parameters():
            if "lora_B" in name:
                p.normal_()
    expected = llama_logits(saved)
    save_smashed(saved, tmp_path / "s")

    loaded = load_smashed(tmp_path / "s", meta_llama())

    assert torch.equal(llama_logits(loaded), expected)
    with pytest.raises(UnsafeOperationError):
        loaded.model.layers[1].mlp.down_proj.merge()


# ----- bad input --------------------------------------------------------------------------------------------


def test_a_misspelt_quant_type_suggests_the_right_one():
    with pytest.raises(IllegalValueError, match="Did you mean 'int8_weight_only'"):
        SmashConfig({"torchao": {"quant_type": "int8_weight_onyl"}})


@pytest.mark.parametrize("quant_type, why", [("int4_weight_only", "mslk"), ("float8_dynamic_activation_float8_weight", "CUDA")])
def test_a_type_that_does_not_run_here_is_refused_with_the_reason(quant_type, why):
    cfg = SmashConfig(["torchao"])
    with pytest.raises(IllegalValueError, match=f"not offered: .*{why}") as raised:
        cfg["torchao_quant_type"] = quant_type
    assert "int8_weight_only" in str(raised.value)
    assert cfg["torchao_quant_type"] == "int8_weight_only"


def test_a_group_size_that_does_not_divide_the_inputs_is_refused_before_any_change(tiny_llama):
    before = capture(tiny_llama)
    cfg = SmashConfig({"torchao": {"granularity": "per_group", "group_size": 256}})

    with pytest.raises(PlanError, match=r"group_size = 256 does not divide the 64 inputs .*\[32, 64\]"):
        smash(tiny_llama, cfg)

    assert_untargeted_unchanged(tiny_llama, before, [], expect_some=False)
    assert not torchao_weights(tiny_llama)


def test_weights_on_the_meta_device_are_refused():
    with pytest.raises(PlanError, match="meta device"):
        smash(meta_llama(), SmashConfig(["torchao"]))


def test_hyperparameters_of_other_quant_types_are_inactive():
    cfg = SmashConfig({"torchao": {"quant_type": "float8_weight_only"}})
    with pytest.raises(Exception, match="granularity"):
        cfg["torchao_granularity"] = "per_tensor"
