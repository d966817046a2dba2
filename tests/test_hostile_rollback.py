"""Rollback against hostile steps: an algorithm registered at run time changes something, then fails.

Each case registers a third-party algorithm whose ``apply`` walks its targets, changes the model
(modules, tensors, flags, classes, ``model.config``, ``model.generation_config``, objects those
hold) at the first target and raises at the second. ``smash`` must name the step and the module
in its error and put everything back: the same module objects at the same paths, equal state
dicts, the same ``requires_grad`` and training flags, the same classes, and the same config and
generation config.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict

import pytest
import torch
from torch import nn

from smashconfig import Algorithm, register_algorithm, smash, unregister_algorithm
from smashconfig.errors import SmashError

import models
from smash_models import assert_unchanged, capture, llama_logits, modules_by_path, state

TARGETS = {"include": ["model.layers.0.mlp.*"]}  # gate_proj, up_proj, down_proj (act_fn has no weights)
FIRST, SECOND = "model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj"


def hostile_algorithm(mutate: Callable[[Any], None], error: BaseException) -> type:
    """An algorithm that calls ``mutate(model)`` at its first target and raises ``error`` at its second."""

    def apply(self, model, targets, params):
        for n, path in enumerate(targets):
            if n == 0:
                mutate(model)
            else:
                raise error

    return type(
        "Hostile",
        (Algorithm,),
        {"name": "hostile", "group": "pruner", "hyperparameters": lambda self: [], "apply": apply},
    )


def run_hostile(model: Any, mutate: Callable[[Any], None], config: Dict[str, Any] = None,
                error: BaseException = None) -> pytest.ExceptionInfo:
    register_algorithm(hostile_algorithm(mutate, error or RuntimeError("hostile fault")))
    try:
        with pytest.raises(SmashError) as caught:
            smash(model, config or {"hostile": {"target_modules": TARGETS}})
    finally:
        unregister_algorithm("hostile")
    return caught


class Before:
    """All that must come back: ``capture`` plus classes, configs, state dict values and outputs."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.capture = capture(model)
        self.classes = {path: type(module) for path, module in modules_by_path(model).items()}
        self.model_class = type(model)
        self.config = copy.deepcopy(model.config.to_dict()) if hasattr(model, "config") else None
        self.config_object = getattr(model, "config", None)
        self.config_class = type(self.config_object)
        generation = getattr(model, "generation_config", None)
        self.generation = None if generation is None else copy.deepcopy(generation.to_dict())
        self.generation_object = generation
        self.state = {k: v.detach().clone() for k, v in state(model).items()}
        self.logits = llama_logits(model) if isinstance(model, nn.Module) and hasattr(model, "lm_head") else None

    def assert_restored(self) -> None:
        model = self.model
        assert type(model) is self.model_class
        assert_unchanged(model, self.capture)
        assert {p: type(m) for p, m in modules_by_path(model).items()} == self.classes
        if self.config is not None:
            assert model.config is self.config_object
            assert type(model.config) is self.config_class
            assert model.config.to_dict() == self.config
        if self.generation is not None:
            assert model.generation_config is self.generation_object
            assert model.generation_config.to_dict() == self.generation
        now = state(model)
        assert list(now) == list(self.state)
        for key, value in self.state.items():
            assert torch.equal(now[key], value), key
        assert not hasattr(model, "smash_plan")
        if self.logits is not None:
            assert torch.equal(llama_logits(model), self.logits)


def assert_names_step_and_module(caught: pytest.ExceptionInfo, module: str = SECOND, text: str = "hostile fault") -> None:
    error = caught.value
    assert error.step == "hostile"
    assert error.module == module
    message = str(error)
    assert "(hostile)" in message and repr(module) in message and text in message


@pytest.fixture
def llama():
    return models.tiny_llama()


# ----- attributes of the model and of the objects it holds -------------------------------------------


def _set_quantization_config(model):
    model.config.quantization_config = {"quant_method": "hostile", "bits": 3}


def _set_max_length(model):
    model.generation_config.max_length = 7


def _delete_config_attribute(model):
    del model.config.rms_norm_eps


def _change_config_value(model):
    model.config.num_attention_heads = 99


def _change_config_through_a_layer(model):
    model.model.layers[0].self_attn.config.hidden_act = "relu"  # the same object as model.config


def _edit_config_dict_in_place(model):
    model.config.id2label[0] = "HOSTILE"
    model.config.id2label[7] = "NEW"


def _replace_config_object(model):
    model.config = copy.deepcopy(model.config)
    model.config.vocab_size = 1


def _remove_generation_config(model):
    model.generation_config = None


def _generation_config_new_attribute(model):
    model.generation_config.hostile_flag = True
    model.generation_config.do_sample = True


def _config_class_swapped(model):
    model.config.__class__ = type("HostileConfig", (type(model.config),), {})


def _model_class_swapped(model):
    model.__class__ = type("HostileLlama", (type(model),), {})


def _new_model_attribute(model):
    model.hostile = "left behind"
    model.hf_quantizer = object()


@pytest.mark.parametrize(
    "mutate",
    [
        _set_quantization_config,
        _set_max_length,
        _delete_config_attribute,
        _change_config_value,
        _change_config_through_a_layer,
        _edit_config_dict_in_place,
        _replace_config_object,
        _remove_generation_config,
        _generation_config_new_attribute,
        _config_class_swapped,
        _model_class_swapped,
        _new_model_attribute,
    ],
)
def test_attributes_of_the_model_and_its_configs_are_restored(llama, mutate):
    before = Before(llama)

    caught = run_hostile(llama, mutate)

    assert_names_step_and_module(caught)
    before.assert_restored()


def test_the_quantization_config_a_step_set_is_gone(llama):
    assert not hasattr(llama.config, "quantization_config")
    max_length = llama.generation_config.max_length

    run_hostile(llama, _set_quantization_config)
    run_hostile(llama, _set_max_length)

    assert not hasattr(llama.config, "quantization_config")
    assert "quantization_config" not in llama.config.to_dict()
    assert llama.generation_config.max_length == max_length


# ----- modules, tensors, flags, classes ----------------------------------------------------------


def _replace_a_submodule(model):
    model.model.layers[0].mlp = nn.Identity()


def _module_class_swapped(model):
    mlp = model.model.layers[0].mlp
    mlp.__class__ = type("HostileMLP", (type(mlp),), {})


def _replace_a_parameter(model):
    proj = model.model.layers[0].mlp.gate_proj
    proj.weight = nn.Parameter(torch.zeros_like(proj.weight))


def _freeze_everything(model):
    for parameter in model.parameters():
        parameter.requires_grad_(False)


def _switch_to_training(model):
    model.train()


def _add_a_forward_hook(model):
    model.model.layers[0].register_forward_hook(lambda module, args, output: output)
    model.register_forward_pre_hook(lambda module, args: None)


def _add_a_buffer_and_a_parameter(model):
    model.model.norm.register_buffer("hostile", torch.ones(3))
    model.model.norm.register_parameter("extra", nn.Parameter(torch.ones(2)))


def _delete_a_submodule(model):
    del model.model.norm


def _grow_the_layer_list(model):
    model.model.layers.append(copy.deepcopy(model.model.layers[0]))


def _shrink_the_layer_list(model):
    del model.model.layers[1]


def _change_a_plain_attribute_of_a_layer(model):
    model.model.layers[0].self_attn.scaling = 0.0
    model.model.layers[0].self_attn.is_causal = False


def _tie_the_head_to_the_embeddings(model):
    model.lm_head.weight = model.model.embed_tokens.weight


def _quantize_with_quanto(model):
    from optimum.quanto import quantize_module

    for name in ("gate_proj", "up_proj"):
        qmodule = quantize_module(getattr(model.model.layers[0].mlp, name), weights="qint8")
        setattr(model.model.layers[0].mlp, name, qmodule)
        qmodule.freeze()


def _inject_lora_with_peft(model):
    from peft import LoraConfig, inject_adapter_in_model

    inject_adapter_in_model(LoraConfig(r=2, target_modules=["q_proj", "v_proj"]), model)


@pytest.mark.parametrize(
    "mutate",
    [
        _replace_a_submodule,
        _module_class_swapped,
        _replace_a_parameter,
        _freeze_everything,
        _switch_to_training,
        _add_a_forward_hook,
        _add_a_buffer_and_a_parameter,
        _delete_a_submodule,
        _grow_the_layer_list,
        _shrink_the_layer_list,
        _change_a_plain_attribute_of_a_layer,
        _tie_the_head_to_the_embeddings,
        _quantize_with_quanto,
        _inject_lora_with_peft,
    ],
)
def test_modules_tensors_and_flags_are_restored(llama, mutate):
    before = Before(llama)

    caught = run_hostile(llama, mutate)

    assert_names_step_and_module(caught)
    before.assert_restored()


# ----- more than one thing, more than one step, other failures -------------------------------------


def _everything_at_once(model):
    _set_quantization_config(model)
    _set_max_length(model)
    _model_class_swapped(model)
    _quantize_with_quanto(model)
    _switch_to_training(model)
    _freeze_everything(model)


def test_many_changes_at_once_are_all_restored(llama):
    before = Before(llama)

    caught = run_hostile(llama, _everything_at_once)

    assert_names_step_and_module(caught)
    before.assert_restored()


def test_a_failure_after_a_real_quanto_step_restores_both_steps(llama):
    before = Before(llama)
    config = {"quanto": {}, "hostile": {"target_modules": TARGETS}}

    caught = run_hostile(llama, _set_quantization_config, config)

    assert caught.value.step == "hostile"
    assert "step 2 (hostile)" in str(caught.value)
    before.assert_restored()
    assert not any(type(m).__name__.startswith("Q") for m in llama.modules())


def test_a_keyboard_interrupt_restores_and_propagates(llama):
    before = Before(llama)
    register_algorithm(hostile_algorithm(_everything_at_once, KeyboardInterrupt()))
    try:
        with pytest.raises(KeyboardInterrupt):
            smash(llama, {"hostile": {"target_modules": TARGETS}})
    finally:
        unregister_algorithm("hostile")

    before.assert_restored()


def test_the_error_says_what_failed(llama):
    caught = run_hostile(llama, _set_max_length, error=ValueError("bits must be 3"))

    assert_names_step_and_module(caught, text="ValueError: bits must be 3")
    assert isinstance(caught.value.__cause__, ValueError)


def test_a_smash_after_a_failed_one_works(llama):
    before = Before(llama)
    run_hostile(llama, _everything_at_once)
    before.assert_restored()

    smash(llama, {"quanto": {}})

    assert llama.smash_plan.steps[0].acted
    assert not hasattr(llama.config, "quantization_config") or llama.config.quantization_config is None


def test_a_pipeline_attribute_and_its_scheduler_are_restored():
    pipe = models.pipeline()
    scheduler, steps, name = pipe.scheduler, pipe.scheduler.steps, pipe.name
    components = {k: v for k, v in vars(pipe).items() if isinstance(v, nn.Module)}
    before_state = {k: v.clone() for k, v in state(pipe).items()}

    def mutate(p):
        p.scheduler.steps = 1000
        p.scheduler.hostile = True
        p.name = "changed"
        p.transformer = nn.Identity()
        p.hostile = 1

    targets = {"include": ["transformer.*"]}
    paths = [path for path in modules_by_path(pipe) if path.startswith("transformer.")
             and next(modules_by_path(pipe)[path].parameters(recurse=False), None) is not None]
    caught = run_hostile(pipe, mutate, {"hostile": {"target_modules": targets}})

    assert caught.value.step == "hostile" and caught.value.module == paths[1]
    assert pipe.scheduler is scheduler and pipe.scheduler.steps == steps
    assert not hasattr(pipe.scheduler, "hostile") and not hasattr(pipe, "hostile")
    assert pipe.name == name
    assert {k: v for k, v in vars(pipe).items() if isinstance(v, nn.Module)} == components
    now = state(pipe)
    assert list(now) == list(before_state)
    assert all(torch.equal(now[k], v) for k, v in before_state.items())
