from __future__ import annotations

import pytest
import torch
from torch import nn

from smashconfig import SmashConfig, SmashPlan, plan_smash, smash
from smashconfig.errors import PlanError, UnsafeOperationError

import models
from models import leaf_paths
from smash_models import (
    adapted_paths,
    assert_unchanged,
    assert_untargeted_unchanged,
    bytes_under,
    capture,
    features,
    llama_ids,
    llama_logits,
    modules_by_path,
    quantized_paths,
    state,
    state_bytes,
)

QUANTIZED_DATA = {
    "qint8": torch.int8,
    "qfloat8": torch.float8_e4m3fn,
    "qint4": torch.uint8,
    "qint2": torch.uint8,
}


QTYPE_NAMES = {"qint8": "qint8", "qfloat8": "qfloat8_e4m3fn", "qint4": "qint4", "qint2": "qint2"}


def body_linears(model) -> list:
    return [p for p in leaf_paths(model, nn.Linear) if p != "lm_head"]


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)


# ----- quanto ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", ["qint8", "qfloat8", "qint4", "qint2"])
def test_quanto_quantizes_exactly_the_targeted_layers_and_freezes_them(tiny_llama, bits):
    from optimum.quanto import QLinear, QTensor

    include = {"include": ["model.layers.0.*", "model.layers.1.mlp.*"]}
    before = capture(tiny_llama)
    bytes_before = state_bytes(tiny_llama)
    plan = plan_smash(tiny_llama, {"quanto": {"weight_bits": bits, "target_modules": include}})
    acted = plan.step("quanto").acted
    assert acted == leaf_paths(tiny_llama, nn.Linear, under="model.layers.0") + leaf_paths(
        tiny_llama, nn.Linear, under="model.layers.1.mlp"
    )
    per_module_before = {p: bytes_under(tiny_llama, p) for p in acted}

    result = smash(tiny_llama, {"quanto": {"weight_bits": bits, "target_modules": include}})

    assert result is tiny_llama
    assert quantized_paths(tiny_llama) == acted
    keys = state(tiny_llama)
    for path in acted:
        module = tiny_llama.get_submodule(path)
        assert isinstance(module, QLinear)
        assert module.weight_qtype.name == QTYPE_NAMES[bits]
        assert module.activation_qtype is None
        assert isinstance(module.weight, QTensor)
        assert f"{path}.weight" not in keys
        data = [k for k in keys if k.startswith(f"{path}.weight.") and k.endswith("_data")]
        assert data and all(keys[k].dtype == QUANTIZED_DATA[bits] for k in data)
        assert bytes_under(tiny_llama, path) < per_module_before[path] / 2.5
    assert state_bytes(tiny_llama) < bytes_before
    assert_untargeted_unchanged(tiny_llama, before, acted)
    assert type(tiny_llama.model.layers[1].self_attn.q_proj) is nn.Linear
    assert type(tiny_llama.lm_head) is nn.Linear


@pytest.mark.parametrize("bits, floor", [("qint8", 0.99), ("qfloat8", 0.98)])
def test_quanto_output_stays_close(bits, floor):
    original = models.tiny_llama()
    reference = llama_logits(original)
    smashed = smash(models.tiny_llama(), {"quanto": {"weight_bits": bits}})

    out = llama_logits(smashed)
    assert not torch.equal(out, reference)
    assert cosine(out, reference).min().item() >= floor


def test_default_quanto_keeps_the_tied_head_tied_and_in_float(tiny_llama_tied):
    from optimum.quanto import QLinear

    embedding = tiny_llama_tied.model.embed_tokens.weight
    body = body_linears(tiny_llama_tied)
    smash(tiny_llama_tied, SmashConfig(["quanto"]))

    assert type(tiny_llama_tied.lm_head) is nn.Linear
    assert tiny_llama_tied.lm_head.weight is embedding
    assert tiny_llama_tied.model.embed_tokens.weight is embedding
    assert quantized_paths(tiny_llama_tied) == body
    assert all(isinstance(tiny_llama_tied.get_submodule(p), QLinear) for p in body)


def test_smash_attaches_the_plan_it_applied(tiny_llama):
    cfg = SmashConfig({"quanto": {"weight_bits": "qfloat8"}, "lora": {"r": 4}})
    expected = plan_smash(models.tiny_llama(), cfg).to_dict()

    smash(tiny_llama, cfg)

    assert isinstance(tiny_llama.smash_plan, SmashPlan)
    assert tiny_llama.smash_plan.to_dict() == expected


def test_activation_quantization_calibrates_over_dict_batches(tiny_llama):
    from optimum.quanto import QLinear

    batches = [{"input_ids": llama_ids(seed=s)} for s in range(3)]
    smash(tiny_llama, {"quanto": {"activation_bits": "qint8"}}, calibration_data=batches)

    acted = tiny_llama.smash_plan.step("quanto").acted
    assert acted == body_linears(models.tiny_llama())
    for path in acted:
        module = tiny_llama.get_submodule(path)
        assert isinstance(module, QLinear)
        assert module.activation_qtype.name == "qint8"
        assert module.input_scale.item() != 1.0
    assert torch.isfinite(llama_logits(tiny_llama)).all()


def test_calibration_batches_from_a_tokenizer_are_passed_as_keywords(tiny_llama):
    from transformers import BatchEncoding

    batches = [BatchEncoding({"input_ids": llama_ids(seed=s)}) for s in range(2)]
    smash(tiny_llama, {"quanto": {"activation_bits": "qint8"}}, calibration_data=batches)

    module = tiny_llama.get_submodule(tiny_llama.smash_plan.step("quanto").acted[0])
    assert module.input_scale.item() != 1.0


@pytest.mark.parametrize("form", ["tensor", "tuple", "generator"])
def test_calibration_batches_may_be_tensors_tuples_or_a_generator(sequential, form):
    x = features()
    data = {"tensor": [x], "tuple": [(x,)], "generator": (b for b in [x, x * 2])}[form]

    smash(sequential, {"quanto": {"activation_bits": "qfloat8"}}, calibration_data=data)

    for path in ("0", "2"):
        module = sequential.get_submodule(path)
        assert module.activation_qtype.name == QTYPE_NAMES["qfloat8"]
        assert module.input_scale.item() != 1.0
        assert module.output_scale.item() != 1.0


def test_activation_quantization_of_layernorm_on_bert(tiny_bert):
    from optimum.quanto import QLayerNorm, QLinear

    from smash_models import bert_inputs

    inputs = bert_inputs()
    with torch.no_grad():
        reference = tiny_bert(**inputs).last_hidden_state
    include = {"include": ["encoder.layer.0.*"]}
    smash(tiny_bert, {"quanto": {"activation_bits": "qint8", "target_modules": include}}, calibration_data=[inputs])

    norms = leaf_paths(models.tiny_bert(), nn.LayerNorm, under="encoder.layer.0")
    assert norms and all(isinstance(tiny_bert.get_submodule(p), QLayerNorm) for p in norms)
    assert all(isinstance(tiny_bert.get_submodule(p), QLinear) for p in leaf_paths(models.tiny_bert(), nn.Linear, under="encoder.layer.0"))
    assert type(tiny_bert.encoder.layer[1].output.LayerNorm) is nn.LayerNorm
    with torch.no_grad():
        out = tiny_bert(**inputs).last_hidden_state
    assert cosine(out, reference).min().item() > 0.95


def test_quanto_quantizes_convolutions_of_a_pipeline_component(pipeline):
    from optimum.quanto import QConv2d

    before = capture(pipeline)
    smash(pipeline, {"quanto": {"target_modules": {"include": ["vae.*"]}}})

    assert isinstance(pipeline.vae.encoder, QConv2d) and isinstance(pipeline.vae.decoder, QConv2d)
    assert quantized_paths(pipeline) == ["vae.encoder", "vae.decoder"]
    assert_untargeted_unchanged(pipeline, before, ["vae.encoder", "vae.decoder"])
    assert pipeline.smash_plan.model == "Pipeline"
    assert pipeline.vae(torch.randn(1, 3, 6, 6)).shape == (1, 3, 6, 6)


def test_sequential_defaults_quantize_every_linear(sequential):
    from optimum.quanto import QLinear

    x = features()
    with torch.no_grad():
        reference = sequential(x)
    smash(sequential, SmashConfig(["quanto"]))

    assert [type(m) for m in sequential] == [QLinear, nn.ReLU, QLinear]
    with torch.no_grad():
        assert cosine(sequential(x), reference).min().item() > 0.99


# ----- lora --------------------------------------------------------------------------------------------


def test_lora_adapts_exactly_the_targeted_layers_with_its_hyperparameters(tiny_llama):
    from peft.tuners.lora import Linear as LoraLinear

    cls = type(tiny_llama)
    include = {"include": ["model.layers.*.self_attn.*"], "exclude": ["*o_proj"]}
    before = capture(tiny_llama)
    originals = {p: tiny_llama.get_submodule(p) for p in leaf_paths(tiny_llama, nn.Linear)}
    reference = llama_logits(tiny_llama)

    smash(tiny_llama, {"lora": {"r": 4, "alpha": 12, "dropout": 0.2, "target_modules": include}})

    acted = tiny_llama.smash_plan.step("lora").acted
    assert acted == [p for p in leaf_paths(models.tiny_llama(), nn.Linear, under="model.layers") if "self_attn" in p and "o_proj" not in p]
    assert adapted_paths(tiny_llama) == acted
    assert type(tiny_llama) is cls
    for path in acted:
        layer = tiny_llama.get_submodule(path)
        assert isinstance(layer, LoraLinear)
        assert layer.get_base_layer() is originals[path]
        assert layer.r["default"] == 4
        assert layer.scaling["default"] == pytest.approx(12 / 4)
        assert layer.lora_A["default"].weight.shape == (4, originals[path].in_features)
        assert layer.lora_B["default"].weight.shape == (originals[path].out_features, 4)
        dropout = layer.lora_dropout["default"]
        assert isinstance(dropout, nn.Dropout) and dropout.p == pytest.approx(0.2)
    for name, parameter in tiny_llama.named_parameters():
        assert parameter.requires_grad == ("lora_" in name), name
    assert_untargeted_unchanged(tiny_llama, before, acted)
    assert torch.equal(llama_logits(tiny_llama), reference)


def test_lora_on_pipeline_layers(pipeline):
    from peft.tuners.lora import Linear as LoraLinear

    encoder_fc = pipeline.text_encoder.fc
    smash(pipeline, {"lora": {"r": 2, "target_modules": {"include": ["transformer.blocks.*.attn"]}}})

    assert adapted_paths(pipeline) == ["transformer.blocks.0.attn", "transformer.blocks.1.attn"]
    assert isinstance(pipeline.transformer.blocks[0].attn, LoraLinear)
    assert pipeline.text_encoder.fc is encoder_fc
    assert type(pipeline.transformer) is models.Transformer


def test_lora_alone_may_be_merged(tiny_llama):
    smash(tiny_llama, {"lora": {"r": 2, "target_modules": {"include": ["model.layers.0.self_attn.q_proj"]}}})
    layer = tiny_llama.model.layers[0].self_attn.q_proj
    with torch.no_grad():
        layer.lora_B["default"].weight.fill_(0.5)
    expected = layer.get_base_layer().weight.detach() + layer.get_delta_weight("default")

    layer.merge()

    assert torch.allclose(layer.get_base_layer().weight, expected)


# ----- quanto and lora together ----------------------------------------------------------------------


def test_qlora_puts_adapters_on_quantized_layers(tiny_llama):
    from optimum.quanto import QLinear
    from peft.tuners.lora import Linear as LoraLinear

    cls = type(tiny_llama)
    before = capture(tiny_llama)
    acted = body_linears(tiny_llama)
    smash(tiny_llama, SmashConfig(["quanto", "lora"]))

    assert type(tiny_llama) is cls
    assert adapted_paths(tiny_llama) == acted
    assert quantized_paths(tiny_llama) == [f"{p}.base_layer" for p in acted]
    for path in acted:
        layer = tiny_llama.get_submodule(path)
        assert isinstance(layer, LoraLinear)
        assert isinstance(layer.get_base_layer(), QLinear)
    assert_untargeted_unchanged(tiny_llama, before, acted)


def test_a_training_step_updates_only_the_adapters(tiny_llama):
    smash(tiny_llama, SmashConfig({"quanto": {}, "lora": {"r": 4}}))
    tiny_llama.train()
    start = {k: v.clone() for k, v in state(tiny_llama).items()}
    optimizer = torch.optim.SGD(tiny_llama.parameters(), lr=0.5)
    ids = llama_ids(batch=4, length=12)

    for _ in range(2):
        optimizer.zero_grad()
        out = tiny_llama(input_ids=ids, labels=ids)
        out.loss.backward()
        optimizer.step()

    end = state(tiny_llama)
    changed = {k for k in start if not torch.equal(start[k], end[k])}
    adapters = {k for k in start if "lora_" in k}
    assert changed == adapters
    for name, parameter in tiny_llama.named_parameters():
        if "lora_" not in name:
            assert parameter.grad is None, name


def test_merging_lora_into_a_quantized_base_is_refused(tiny_llama):
    smash(tiny_llama, SmashConfig(["quanto", "lora"]))
    layer = tiny_llama.model.layers[0].self_attn.q_proj
    with torch.no_grad():
        layer.lora_B["default"].weight.fill_(0.5)
    saved = {k: v.clone() for k, v in state(tiny_llama).items()}
    reference = llama_logits(tiny_llama)

    with pytest.raises(UnsafeOperationError, match="merge"):
        layer.merge()

    assert not layer.merged
    assert all(torch.equal(v, saved[k]) for k, v in state(tiny_llama).items())
    assert torch.equal(llama_logits(tiny_llama), reference)


def test_qlora_on_a_pipeline_denoiser(pipeline):
    from optimum.quanto import QLinear

    x = features(width=8)
    with torch.no_grad():
        reference = pipeline.transformer(x)
    vae, text_encoder = pipeline.vae, pipeline.text_encoder

    smash(pipeline, SmashConfig(["quanto", "lora"]))

    expected = leaf_paths(models.pipeline(), nn.Linear, under="transformer")
    assert adapted_paths(pipeline) == expected
    assert all(isinstance(modules_by_path(pipeline)[f"{p}.base_layer"], QLinear) for p in expected)
    assert pipeline.vae is vae and pipeline.text_encoder is text_encoder
    assert not any(isinstance(m, QLinear) for m in text_encoder.modules())
    with torch.no_grad():
        assert cosine(pipeline.transformer(x), reference).min().item() > 0.99


# ----- refusals --------------------------------------------------------------------------------------


def test_a_smashed_model_is_not_smashed_again(tiny_llama):
    smash(tiny_llama, SmashConfig(["quanto"]))
    before = capture(tiny_llama)

    with pytest.raises(PlanError, match="smashed already"):
        smash(tiny_llama, SmashConfig(["lora"]))

    assert_unchanged(tiny_llama, before)
    assert [s.algorithm for s in tiny_llama.smash_plan.steps] == ["quanto"]


def test_meta_weights_are_refused_before_anything_changes(smollm_meta):
    before = capture(smollm_meta)
    with pytest.raises(PlanError, match="meta"):
        smash(smollm_meta, SmashConfig(["quanto"]))
    assert_unchanged(smollm_meta, before)


# ----- mode and progress -----------------------------------------------------------------------------


def test_smash_keeps_an_eval_model_in_eval_mode(tiny_llama):
    from smash_models import randomize_adapters

    assert not tiny_llama.training
    smash(tiny_llama, {"quanto": {}, "lora": {"dropout": 0.5}})
    randomize_adapters(tiny_llama)

    in_training = [p for p, m in modules_by_path(tiny_llama).items() if m.training]
    assert in_training == []
    assert torch.equal(llama_logits(tiny_llama), llama_logits(tiny_llama))


def test_smash_keeps_a_training_model_in_training_mode():
    model = models.tiny_llama().train()
    smash(model, {"quanto": {}, "lora": {"dropout": 0.5}})

    assert [p for p, m in modules_by_path(model).items() if not m.training] == []


def test_smash_is_quiet_when_stderr_is_not_a_terminal(tiny_llama, capsys):
    smash(tiny_llama, SmashConfig(["quanto", "lora"]))
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_smash_shows_progress_on_a_terminal(tiny_llama, monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    smash(tiny_llama, SmashConfig(["quanto", "lora"]))

    shown = terminal.getvalue()
    assert "quanto (1/2)" in shown and "lora (2/2)" in shown
    assert "14" in shown
