from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from smashconfig import SmashConfig, load_smashed, save_smashed, smash
from smashconfig.errors import SavedModelError, SmashConfigError

import models
from smash_models import (
    Calls,
    assert_unchanged,
    capture,
    features,
    llama_ids,
    llama_logits,
    meta_llama,
    meta_pipeline,
    meta_sequential,
    modules_by_path,
    randomize_adapters,
    state,
    tensors,
)

CONFIGS = {
    "qint8": {"quanto": {"weight_bits": "qint8"}},
    "qfloat8": {"quanto": {"weight_bits": "qfloat8"}},
    "lora": {"lora": {"r": 4, "alpha": 8}},
    "quanto+lora": {"quanto": {"weight_bits": "qint8"}, "lora": {"r": 4, "alpha": 8}},
}


def smashed_llama(config, tie: bool = False, seed: int = 0) -> nn.Module:
    model = smash(models.tiny_llama(tie_word_embeddings=tie, seed=seed), config)
    randomize_adapters(model)
    return model


def assert_same_smashed_model(loaded, saved) -> None:
    assert {p: type(m) for p, m in modules_by_path(loaded).items()} == {
        p: type(m) for p, m in modules_by_path(saved).items()
    }
    loaded_state, saved_state = state(loaded), state(saved)
    assert list(loaded_state) == list(saved_state)
    for key, value in saved_state.items():
        assert loaded_state[key].dtype == value.dtype, key
        assert torch.equal(loaded_state[key], value), key
    assert {k: t.requires_grad for k, t in tensors(loaded).items()} == {
        k: t.requires_grad for k, t in tensors(saved).items()
    }
    assert not any(t.is_meta for t in tensors(loaded).values())
    assert loaded.smash_plan.to_dict() == saved.smash_plan.to_dict()


@pytest.fixture
def quantize_calls(monkeypatch):
    import optimum.quanto

    calls = Calls(optimum.quanto.quantize_module)
    monkeypatch.setattr(optimum.quanto, "quantize_module", calls)
    return calls


@pytest.fixture(scope="module")
def saved_qlora(tmp_path_factory):
    directory = tmp_path_factory.mktemp("qlora")
    model = smashed_llama(CONFIGS["quanto+lora"])
    save_smashed(model, directory)
    return directory, model


def copy_of(directory: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    target.mkdir()
    for file in directory.iterdir():
        (target / file.name).write_bytes(file.read_bytes())
    return target


# ----- round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("tie", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_round_trip_onto_a_meta_model_gives_identical_outputs(tmp_path, name, tie):
    saved = smashed_llama(CONFIGS[name], tie=tie)
    expected = llama_logits(saved)
    save_smashed(saved, tmp_path)

    fresh = meta_llama(tie_word_embeddings=tie)
    loaded = load_smashed(tmp_path, fresh)

    assert loaded is fresh
    out = llama_logits(loaded)
    max_abs_difference = (out - expected).abs().max().item()
    assert max_abs_difference == 0
    assert torch.equal(out, expected)
    assert_same_smashed_model(loaded, saved)
    if tie:
        assert loaded.lm_head.weight is loaded.model.embed_tokens.weight
        assert isinstance(loaded.lm_head.weight, nn.Parameter)
    else:
        assert loaded.lm_head.weight is not loaded.model.embed_tokens.weight


def test_lora_adapters_stay_trainable_and_the_base_frozen_after_loading(saved_qlora):
    directory, _ = saved_qlora
    loaded = load_smashed(directory, meta_llama())

    trainable = {name for name, p in loaded.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name for name in trainable)
    assert trainable == {name for name, _ in loaded.named_parameters() if "lora_" in name}


def test_merging_into_a_loaded_quantized_base_is_still_refused(saved_qlora):
    from smashconfig.errors import UnsafeOperationError

    directory, saved = saved_qlora
    loaded = load_smashed(directory, meta_llama())
    expected = llama_logits(saved)

    with pytest.raises(UnsafeOperationError):
        loaded.model.layers[1].mlp.down_proj.merge()

    assert torch.equal(llama_logits(loaded), expected)


def test_a_loaded_model_keeps_the_mode_of_the_model_it_was_loaded_onto(saved_qlora):
    directory, _ = saved_qlora
    loaded = load_smashed(directory, meta_llama())

    assert [p for p, m in modules_by_path(loaded).items() if m.training] == []


def test_loaded_layers_are_not_requantized(saved_qlora, quantize_calls, monkeypatch):
    from optimum.quanto.nn import QModuleMixin

    freezes = Calls(QModuleMixin.freeze)
    monkeypatch.setattr(QModuleMixin, "freeze", lambda self: freezes(self))
    directory, saved = saved_qlora

    other_weights = models.tiny_llama(seed=7)
    load_smashed(directory, other_weights)

    assert freezes.count == 0
    assert quantize_calls.count == len(saved.smash_plan.step("quanto").acted)
    assert torch.equal(llama_logits(other_weights), llama_logits(saved))
    assert_same_smashed_model(other_weights, saved)


def test_the_directory_holds_no_pickle_and_loading_never_unpickles(saved_qlora, monkeypatch):
    directory, saved = saved_qlora
    assert {p.suffix for p in directory.iterdir()} <= {".safetensors", ".json", ".yaml"}
    assert any(p.suffix == ".safetensors" for p in directory.iterdir())
    assert (directory / "plan.json").is_file() and (directory / "config.yaml").is_file()

    def refuse(*args, **kwargs):
        raise AssertionError("unpickling during load_smashed")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)

    loaded = load_smashed(directory, meta_llama())
    assert torch.equal(llama_logits(loaded), llama_logits(saved))


def test_saved_files_describe_the_plan_and_config(saved_qlora):
    from smashconfig import SmashPlan

    directory, saved = saved_qlora
    plan = SmashPlan.from_json((directory / "plan.json").read_text())
    assert plan.to_dict() == saved.smash_plan.to_dict()
    assert SmashConfig.from_yaml(directory / "config.yaml") == SmashConfig(CONFIGS["quanto+lora"])


def test_a_loaded_model_saves_the_same_weights(saved_qlora, tmp_path):
    directory, _ = saved_qlora
    loaded = load_smashed(directory, meta_llama())
    save_smashed(loaded, tmp_path)

    for name in ("model.safetensors", "plan.json", "config.yaml"):
        assert (tmp_path / name).read_bytes() == (directory / name).read_bytes(), name


def test_pipeline_round_trip(tmp_path):
    saved = smash(models.pipeline(), SmashConfig(["quanto", "lora"]))
    randomize_adapters(saved)
    x = features()
    with torch.no_grad():
        expected = saved.transformer(x)
    save_smashed(saved, tmp_path)

    loaded = load_smashed(tmp_path, meta_pipeline())

    with torch.no_grad():
        out = loaded.transformer(x)
    max_abs_difference = (out - expected).abs().max().item()
    assert max_abs_difference == 0
    assert_same_smashed_model(loaded, saved)
    assert loaded.name == "toy-pipeline"
    assert not any(t.is_meta for t in loaded.vae.parameters())


def test_sequential_round_trip(tmp_path):
    saved = smash(models.sequential(), {"quanto": {"weight_bits": "qfloat8"}})
    x = features()
    with torch.no_grad():
        expected = saved(x)
    save_smashed(saved, tmp_path)

    loaded = load_smashed(tmp_path, meta_sequential())

    with torch.no_grad():
        assert torch.equal(loaded(x), expected)
    assert_same_smashed_model(loaded, saved)


def test_activation_quantized_round_trip_gives_identical_outputs(tmp_path):
    ids = llama_ids()
    saved = smash(models.tiny_llama(), {"quanto": {"activation_bits": "qint8"}}, calibration_data=[{"input_ids": ids}])
    expected = llama_logits(saved, ids)
    save_smashed(saved, tmp_path)

    loaded = load_smashed(tmp_path, meta_llama())

    max_abs_difference = (llama_logits(loaded, ids) - expected).abs().max().item()
    assert max_abs_difference == 0


# ----- refusals ---------------------------------------------------------------------------------------


def test_saving_an_unsmashed_model_is_refused(tmp_path):
    with pytest.raises(SavedModelError, match="smash"):
        save_smashed(models.sequential(), tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "build",
    [
        lambda: meta_llama(num_hidden_layers=1),
        lambda: models.tiny_bert(),
        lambda: meta_sequential(),
    ],
    ids=["fewer-layers", "bert", "sequential"],
)
def test_a_plan_whose_paths_are_not_in_the_model_is_refused(saved_qlora, quantize_calls, build):
    directory, _ = saved_qlora
    model = build()
    before = capture(model)

    with pytest.raises(SavedModelError) as caught:
        load_smashed(directory, model)

    assert "model.layers" in str(caught.value) or "plan" in str(caught.value)
    assert quantize_calls.count == 0
    assert_unchanged(model, before)


@pytest.mark.parametrize("missing", ["model.safetensors", "plan.json", "config.yaml", "smashconfig.json"])
def test_an_incomplete_directory_is_refused(saved_qlora, tmp_path, quantize_calls, missing):
    directory = copy_of(saved_qlora[0], tmp_path)
    (directory / missing).unlink()
    model = meta_llama()
    before = capture(model)

    with pytest.raises(SavedModelError) as caught:
        load_smashed(directory, model)

    assert missing in str(caught.value)
    assert quantize_calls.count == 0
    assert_unchanged(model, before)


@pytest.mark.parametrize(
    "file, where",
    [("plan.json", "middle"), ("model.safetensors", "end"), ("model.safetensors", "header"), ("config.yaml", "middle")],
)
def test_a_changed_byte_is_refused(saved_qlora, tmp_path, quantize_calls, file, where):
    directory = copy_of(saved_qlora[0], tmp_path)
    data = bytearray((directory / file).read_bytes())
    position = {"middle": len(data) // 2, "end": len(data) - 1, "header": 20}[where]
    data[position] ^= 0x01
    (directory / file).write_bytes(bytes(data))
    model = meta_llama()
    before = capture(model)

    with pytest.raises(SavedModelError) as caught:
        load_smashed(directory, model)

    assert file in str(caught.value)
    assert quantize_calls.count == 0
    assert_unchanged(model, before)


def _rehash(directory: Path, name: str) -> None:
    manifest = json.loads((directory / "smashconfig.json").read_text())
    manifest["files"][name] = hashlib.sha256((directory / name).read_bytes()).hexdigest()
    del manifest["manifest_sha256"]
    body = json.dumps(manifest, sort_keys=True).encode("utf-8")
    manifest["manifest_sha256"] = hashlib.sha256(body).hexdigest()
    (directory / "smashconfig.json").write_text(json.dumps(manifest))


def test_an_edited_manifest_is_refused(saved_qlora, tmp_path):
    directory = copy_of(saved_qlora[0], tmp_path)
    manifest = json.loads((directory / "smashconfig.json").read_text())
    manifest["non_persistent_buffers"] = []
    (directory / "smashconfig.json").write_text(json.dumps(manifest))
    model = meta_llama()
    before = capture(model)

    with pytest.raises(SavedModelError, match="smashconfig.json"):
        load_smashed(directory, model)

    assert_unchanged(model, before)


def test_a_plan_edited_with_its_checksum_updated_is_still_refused(saved_qlora, tmp_path, quantize_calls):
    directory = copy_of(saved_qlora[0], tmp_path)
    plan = json.loads((directory / "plan.json").read_text())
    plan["config"]["lora"]["r"] = 2
    for step in plan["steps"]:
        if step["algorithm"] == "lora":
            step["params"]["r"] = 2
    (directory / "plan.json").write_text(json.dumps(plan))
    _rehash(directory, "plan.json")
    model = meta_llama()
    before = capture(model)

    with pytest.raises(SavedModelError):
        load_smashed(directory, model)

    assert quantize_calls.count == 0
    assert_unchanged(model, before)


def test_weights_that_do_not_fit_are_refused_and_the_model_restored(saved_qlora, tmp_path):
    from safetensors.torch import load_file, save_file

    directory = copy_of(saved_qlora[0], tmp_path)
    weights = load_file(str(directory / "model.safetensors"))
    dropped = next(k for k in weights if "lora_B" in k)
    del weights[dropped]
    save_file(weights, str(directory / "model.safetensors"))
    _rehash(directory, "model.safetensors")
    model = meta_llama()
    before = capture(model)

    with pytest.raises(SavedModelError) as caught:
        load_smashed(directory, model)

    assert dropped in str(caught.value)
    assert_unchanged(model, before)


def test_a_model_of_other_shapes_is_refused_and_restored(saved_qlora):
    from transformers import LlamaForCausalLM

    with torch.device("meta"):
        model = LlamaForCausalLM(models.llama_config(hidden_size=32, intermediate_size=64)).eval()
    before = capture(model)

    with pytest.raises(SavedModelError):
        load_smashed(saved_qlora[0], model)

    assert_unchanged(model, before)


def test_an_already_smashed_model_is_refused(saved_qlora, quantize_calls):
    model = smash(models.tiny_llama(), CONFIGS["qint8"])
    quantize_calls.count = 0
    before = capture(model)

    with pytest.raises(SavedModelError, match="already smashed"):
        load_smashed(saved_qlora[0], model)

    assert quantize_calls.count == 0
    assert_unchanged(model, before)


def test_a_directory_that_does_not_exist_is_refused(tmp_path):
    with pytest.raises(SavedModelError) as caught:
        load_smashed(tmp_path / "nowhere", meta_llama())
    assert isinstance(caught.value, SmashConfigError) and isinstance(caught.value, ValueError)
