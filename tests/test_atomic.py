from __future__ import annotations

import importlib.metadata
import sys

import pytest
import torch
from torch import nn

from smashconfig import Algorithm, plan_smash, register_algorithm, smash, unregister_algorithm
from smashconfig.errors import (
    IllegalValueError,
    MissingBackendError,
    NoTargetsError,
    PlanError,
    SmashConfigError,
    SmashError,
)

import models
from smash_models import (
    Calls,
    adapted_paths,
    assert_unchanged,
    capture,
    features,
    llama_ids,
    llama_logits,
    quantized_paths,
    state,
)

QLORA = {"quanto": {"weight_bits": "qint8"}, "lora": {"r": 4}}


@pytest.fixture
def quantize_calls(monkeypatch):
    """``optimum.quanto.quantize_module`` (where the quanto algorithm looks it up), counted."""
    import optimum.quanto

    calls = Calls(optimum.quanto.quantize_module)
    monkeypatch.setattr(optimum.quanto, "quantize_module", calls)
    return calls


@pytest.fixture
def inject_calls(monkeypatch):
    """``peft.inject_adapter_in_model`` (where the lora algorithm looks it up), counted."""
    import peft

    calls = Calls(peft.inject_adapter_in_model)
    monkeypatch.setattr(peft, "inject_adapter_in_model", calls)
    return calls


def assert_nothing_started(quantize_calls, inject_calls) -> None:
    assert quantize_calls.count == 0
    assert inject_calls.count == 0


# ----- faults while changing the model -------------------------------------------------------------


def test_fault_in_the_second_step_restores_the_quantized_layers(tiny_llama, quantize_calls, inject_calls):
    inject_calls.fail_on = 1
    before = capture(tiny_llama)
    reference = llama_logits(tiny_llama)

    with pytest.raises(SmashError) as caught:
        smash(tiny_llama, QLORA)

    assert quantize_calls.count == 14
    assert_unchanged(tiny_llama, before)
    assert not hasattr(tiny_llama, "peft_config")
    assert not hasattr(tiny_llama, "smash_plan")
    assert quantized_paths(tiny_llama) == [] and adapted_paths(tiny_llama) == []
    assert torch.equal(llama_logits(tiny_llama), reference)
    error = caught.value
    assert error.step == "lora"
    assert "step 2 (lora)" in str(error)
    assert "injected fault" in str(error)
    assert error.module, "the error does not name the module"
    assert error.module in str(error)


def test_fault_after_peft_injected_its_adapters_restores_everything(tiny_llama, monkeypatch):
    import peft

    real = peft.inject_adapter_in_model

    def inject_then_fail(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("failed after injecting")

    monkeypatch.setattr(peft, "inject_adapter_in_model", inject_then_fail)
    before = capture(tiny_llama)

    with pytest.raises(SmashError, match="failed after injecting"):
        smash(tiny_llama, QLORA)

    assert_unchanged(tiny_llama, before)
    assert not hasattr(tiny_llama, "peft_config")


def test_fault_in_the_middle_of_the_first_step_names_the_module(tiny_llama, quantize_calls, inject_calls):
    quantize_calls.fail_on = 3
    acted = plan_smash(tiny_llama, QLORA).step("quanto").acted
    before = capture(tiny_llama)

    with pytest.raises(SmashError) as caught:
        smash(tiny_llama, QLORA)

    assert_unchanged(tiny_llama, before)
    assert inject_calls.count == 0
    error = caught.value
    assert error.step == "quanto"
    assert error.module == acted[2]
    message = str(error)
    assert "step 1 (quanto)" in message and repr(acted[2]) in message
    assert "injected fault" in message
    assert "restored" in message
    assert isinstance(error, SmashConfigError) and isinstance(error, RuntimeError)
    assert isinstance(error.__cause__, RuntimeError)


def test_fault_on_a_later_module_of_peft_names_that_module(tiny_llama, monkeypatch):
    from peft.tuners.lora.model import LoraModel

    calls = Calls(LoraModel._create_and_replace, fail_on=3)

    def create_and_replace(self, *args, **kwargs):
        return calls(self, *args, **kwargs)

    monkeypatch.setattr(LoraModel, "_create_and_replace", create_and_replace)
    acted = plan_smash(tiny_llama, QLORA).step("lora").acted
    before = capture(tiny_llama)

    with pytest.raises(SmashError) as caught:
        smash(tiny_llama, QLORA)

    assert_unchanged(tiny_llama, before)
    assert caught.value.step == "lora"
    assert caught.value.module == acted[2]
    assert repr(acted[2]) in str(caught.value)


def test_an_interrupt_restores_the_model_and_propagates(tiny_llama, quantize_calls):
    quantize_calls.fail_on = 5
    quantize_calls.error = KeyboardInterrupt()
    before = capture(tiny_llama)

    with pytest.raises(KeyboardInterrupt):
        smash(tiny_llama, QLORA)

    assert_unchanged(tiny_llama, before)


def test_failing_calibration_restores_the_model_and_leaves_no_hooks(tiny_llama):
    before = capture(tiny_llama)
    global_hooks = (
        len(nn.modules.module._global_forward_pre_hooks),
        len(nn.modules.module._global_forward_hooks),
    )
    good = {"input_ids": llama_ids()}
    bad = {"input_ids": torch.full((2, 8), 10_000)}

    with pytest.raises(SmashError) as caught:
        smash(tiny_llama, {"quanto": {"activation_bits": "qint8"}}, calibration_data=[good, bad])

    assert caught.value.step == "quanto"
    assert_unchanged(tiny_llama, before)
    assert (
        len(nn.modules.module._global_forward_pre_hooks),
        len(nn.modules.module._global_forward_hooks),
    ) == global_hooks


def test_an_empty_calibration_iterator_is_refused_and_the_model_restored(tiny_llama):
    before = capture(tiny_llama)

    with pytest.raises(SmashError, match="yielded no batch") as caught:
        smash(tiny_llama, {"quanto": {"activation_bits": "qint8"}}, calibration_data=iter([]))

    assert caught.value.step == "quanto"
    assert_unchanged(tiny_llama, before)


def test_a_pipeline_is_restored_component_by_component(pipeline, inject_calls):
    inject_calls.fail_on = 1
    before = capture(pipeline)
    components = {k: v for k, v in vars(pipeline).items()}

    with pytest.raises(SmashError):
        smash(pipeline, QLORA)

    assert_unchanged(pipeline, before)
    assert all(getattr(pipeline, k) is v for k, v in components.items())


def test_a_restored_model_smashes_like_a_fresh_one(tiny_llama, quantize_calls):
    quantize_calls.fail_on = 3
    with pytest.raises(SmashError):
        smash(tiny_llama, QLORA)
    quantize_calls.fail_on = None

    smash(tiny_llama, QLORA)
    fresh = smash(models.tiny_llama(), QLORA)

    assert tiny_llama.smash_plan.to_dict() == fresh.smash_plan.to_dict()
    restored_state, fresh_state = state(tiny_llama), state(fresh)
    assert list(restored_state) == list(fresh_state)
    assert all(torch.equal(restored_state[k], fresh_state[k]) for k in fresh_state if "lora_A" not in k)
    assert torch.equal(llama_logits(tiny_llama), llama_logits(fresh))


# ----- checks that run before the first change ----------------------------------------------------


def test_a_missing_backend_is_reported_before_any_change(tiny_llama, monkeypatch, quantize_calls, inject_calls):
    real = importlib.metadata.version

    def version(name):
        if name == "peft":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    before = capture(tiny_llama)

    with pytest.raises(MissingBackendError) as caught:
        smash(tiny_llama, QLORA)

    assert 'pip install "torch-smashconfig[lora]"' in str(caught.value)
    assert isinstance(caught.value, ImportError)
    assert_nothing_started(quantize_calls, inject_calls)
    assert_unchanged(tiny_llama, before)


def test_a_backend_that_cannot_be_imported_is_reported_before_any_change(
    tiny_llama, monkeypatch, quantize_calls, inject_calls
):
    monkeypatch.setitem(sys.modules, "peft", None)
    before = capture(tiny_llama)

    with pytest.raises(MissingBackendError, match="peft"):
        smash(tiny_llama, QLORA)

    assert_nothing_started(quantize_calls, inject_calls)
    assert_unchanged(tiny_llama, before)


@pytest.mark.parametrize(
    "config, error",
    [
        ({"quanto": {"weight_bits": "qint3"}, "lora": {}}, IllegalValueError),
        ({"quanto": {}, "lora": {"r": 0}}, IllegalValueError),
        ({"quanto": {}, "lora": {"dropout": 0.95}}, IllegalValueError),
        ({"quanto": {}, "lora": {"target_modules": {"include": ["encoder.*"]}}}, NoTargetsError),
        ({"quanto": {}, "lora": {"target_modules": {"include": ["*layernorm"]}}}, PlanError),
    ],
    ids=["weight-bits", "lora-r", "lora-dropout", "lora-targets-nothing", "lora-acts-on-nothing"],
)
def test_bad_hyperparameters_and_targets_fail_before_any_change(tiny_llama, quantize_calls, inject_calls, config, error):
    before = capture(tiny_llama)

    with pytest.raises(error):
        smash(tiny_llama, config)

    assert_nothing_started(quantize_calls, inject_calls)
    assert_unchanged(tiny_llama, before)


def test_meta_weights_in_a_later_target_fail_before_the_first_change(tiny_llama, quantize_calls, inject_calls):
    with torch.device("meta"):
        tiny_llama.model.layers[1].mlp.down_proj = nn.Linear(128, 64, bias=False)
    before = capture(tiny_llama)

    with pytest.raises(PlanError) as caught:
        smash(tiny_llama, QLORA)

    assert "model.layers.1.mlp.down_proj" in str(caught.value)
    assert "meta" in str(caught.value)
    assert_nothing_started(quantize_calls, inject_calls)
    assert_unchanged(tiny_llama, before)


@pytest.mark.parametrize(
    "data, says",
    [
        (None, "needs calibration batches"),
        ([], "empty"),
        (5, "got 5 (int)"),
        ("batch", "got 'batch' (str)"),
        (torch.zeros(2, 8, dtype=torch.long), "wrap a single batch in a list"),
        ({"input_ids": torch.zeros(2, 8, dtype=torch.long)}, "wrap a single batch in a list"),
    ],
    ids=["none", "empty", "int", "str", "one-tensor", "one-dict"],
)
def test_activation_quantization_without_calibration_batches_fails_before_any_change(
    tiny_llama, quantize_calls, inject_calls, data, says
):
    before = capture(tiny_llama)

    with pytest.raises(PlanError, match="calibration") as caught:
        smash(tiny_llama, {"quanto": {"activation_bits": "qint8"}, "lora": {}}, calibration_data=data)

    assert says in str(caught.value)
    assert_nothing_started(quantize_calls, inject_calls)
    assert_unchanged(tiny_llama, before)


def test_weight_only_quantization_needs_no_calibration_data(sequential, quantize_calls):
    smash(sequential, {"quanto": {}})
    assert quantize_calls.count == 2


def test_lora_refuses_a_whole_pipeline_component_before_any_change(pipeline, quantize_calls, inject_calls):
    before = capture(pipeline)

    with pytest.raises(PlanError, match="lora would act on no module"):
        smash(pipeline, {"quanto": {}, "lora": {"target_modules": {"include": ["text_encoder"]}}})

    assert_nothing_started(quantize_calls, inject_calls)
    assert_unchanged(pipeline, before)


def test_a_second_smash_fails_before_any_change(sequential, quantize_calls, inject_calls):
    smash(sequential, {"quanto": {}})
    quantize_calls.count = 0
    before = capture(sequential)

    with pytest.raises(PlanError):
        smash(sequential, {"lora": {}})

    assert_nothing_started(quantize_calls, inject_calls)
    assert_unchanged(sequential, before)
    assert torch.isfinite(sequential(features())).all()


class _Scribbler(Algorithm):
    """Writes into the embedding the way ``how`` says, then fails."""

    name = "scribbler"
    group = "pruner"
    how = "nothing"

    def hyperparameters(self):
        return []

    def apply(self, model, targets, params):
        weight = model.model.embed_tokens.weight
        with torch.no_grad():
            if self.how == "in-place":
                weight.mul_(0)
            elif self.how == "new-data":
                weight.data = torch.zeros_like(weight)
        raise RuntimeError("scribbled")


@pytest.mark.parametrize("how", ["nothing", "in-place", "new-data"])
def test_a_failing_step_reports_the_tensors_it_wrote(tiny_llama, how):
    scribbler = type("Scribbler", (_Scribbler,), {"how": how})
    register_algorithm(scribbler)
    try:
        with pytest.raises(SmashError, match="scribbled") as caught:
            smash(tiny_llama, {"scribbler": {"target_modules": {"include": ["model.embed_tokens"]}}})
    finally:
        unregister_algorithm("scribbler")

    message = str(caught.value)
    if how == "nothing":
        assert "none written in place" in message
    else:
        assert "keep the new values: ['model.embed_tokens.weight']" in message


def test_a_model_with_an_uninitialized_lazy_layer_can_be_smashed_elsewhere():
    model = nn.Sequential(nn.Linear(8, 8), nn.LazyLinear(4))

    smash(model, {"quanto": {"target_modules": {"include": ["0"]}}})

    assert model.smash_plan.step("quanto").acted == ["0"]


def test_a_dataloader_without_a_length_is_accepted_as_calibration_data(sequential):
    from torch.utils.data import DataLoader, IterableDataset

    from smash_models import features

    class Stream(IterableDataset):
        def __iter__(self):
            yield from features()

    smash(sequential, {"quanto": {"activation_bits": "qint8"}}, calibration_data=DataLoader(Stream(), batch_size=2))

    assert sequential.get_submodule("0").input_scale.item() != 1.0
