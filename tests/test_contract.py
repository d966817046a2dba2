"""The algorithm contract: what apply receives, order, recognising changed modules, explicit registries."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from typing import Any, List

import pytest
import torch

import models
from smash_models import llama_ids
from smashconfig import Algorithm, SmashConfig, plan_smash, smash
from smashconfig.apply.smash import rebuild_smashed
from smashconfig.contract.registry import Registry, default_registry
from smashconfig.contract.step import StepInput
from smashconfig.errors import PlanError, SmashError, UnknownAlgorithmError


def level_hp() -> List[Any]:
    from ConfigSpace import Integer

    return [Integer("level", (0, 9), default=1)]


class Stepper(Algorithm):
    """Sees the whole step: every group, the calibration batches, progress, replace."""

    name = "stepper"
    group = "steppers"
    order = 10
    seen: List[StepInput] = []

    def hyperparameters(self) -> List[Any]:
        return level_hp()

    def skip_reason(self, path: str, module: Any, params: Any) -> Any:
        return None if isinstance(module, torch.nn.Linear) else "not a Linear"

    def apply_step(self, step: StepInput) -> None:
        type(self).seen.append(step)
        for path in step.paths:
            step.progress(path)
            old = step.get(path)
            new = torch.nn.Linear(old.in_features, old.out_features, bias=old.bias is not None)
            new.load_state_dict(old.state_dict())
            new.marked = True  # type: ignore[attr-defined]
            step.replace(path, new)
        step.progress(None)

    def is_changed(self, module: Any) -> bool:
        return getattr(module, "marked", False)


class Breaker(Algorithm):
    name = "breaker"
    group = "breakers"

    def hyperparameters(self) -> List[Any]:
        return level_hp()

    def apply_step(self, step: StepInput) -> None:
        step.progress(step.paths[1])
        raise RuntimeError("broken on purpose")


def registry_with(*algorithms: Any) -> Registry:
    registry = Registry()
    for algorithm in algorithms:
        registry.register(algorithm)
    return registry


def quiet_smash(model, config, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smash(model, config, **kwargs)


def test_apply_step_gets_groups_calibration_and_replaces_at_paths(tiny_llama):
    Stepper.seen = []
    registry = registry_with(Stepper)
    config = SmashConfig(
        {"stepper": {"target_modules": {"include": ["model.layers.0.*"]}, "overrides": [{"include": ["*.mlp.*"], "level": 5}]}},
        registry=registry,
    )
    batches = [llama_ids()]

    quiet_smash(tiny_llama, config, calibration_data=batches)

    (step,) = Stepper.seen
    assert step.calibration_data is batches
    assert [g.params["level"] for g in step.groups] == [1, 5]
    assert all(tiny_llama.get_submodule(path).marked for path in step.paths)
    assert step.model is tiny_llama


def test_an_algorithm_declares_its_place_in_the_order(tiny_llama):
    registry = registry_with(Stepper)
    config = SmashConfig({"quanto": {}, "stepper": {}}, registry=registry)
    assert config.active_algorithms == ["stepper", "quanto"]
    assert [s.algorithm for s in plan_smash(tiny_llama, config).steps] == ["stepper", "quanto"]


def test_a_module_another_algorithm_changed_is_left_to_it(tiny_llama):
    registry = registry_with(Stepper)
    quiet_smash(tiny_llama, SmashConfig({"stepper": {"target_modules": {"include": ["model.layers.0.mlp.*"]}}}, registry=registry))
    model = tiny_llama
    del model.smash_plan
    # the marked layers are quanto's to skip only when quanto is told they are someone's: a marked layer
    # holding a child is a container whose insides belong to the stepper
    wrapper = torch.nn.Sequential(model.model.layers[0].mlp.up_proj)
    wrapper.marked = True  # type: ignore[attr-defined]
    model.model.layers[0].mlp.up_proj = wrapper
    config = SmashConfig({"quanto": {"target_modules": {"include": ["model.layers.0.mlp.*"]}}}, registry=registry)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        step = plan_smash(model, config).steps[0]
    assert step.skipped["model.layers.0.mlp.up_proj.0"] == "part of 'model.layers.0.mlp.up_proj', which stepper already changed"


def test_a_failure_names_the_module_the_algorithm_reported(tiny_llama):
    registry = registry_with(Breaker)
    before = {k: v.clone() for k, v in tiny_llama.state_dict().items()}
    config = SmashConfig({"breaker": {"target_modules": {"include": ["model.layers.0.mlp.*"]}}}, registry=registry)

    with pytest.raises(SmashError, match=r"step 1 \(breaker\) failed at module 'model.layers.0.mlp.up_proj'"):
        quiet_smash(tiny_llama, config)
    assert all(torch.equal(before[k], v) for k, v in tiny_llama.state_dict().items())


def test_a_config_carries_its_registry_through_planning_and_smashing(tiny_llama):
    registry = registry_with(Stepper)
    config = SmashConfig({"stepper": {}}, registry=registry)
    assert config.registry is registry
    assert config.copy().registry is registry
    with pytest.raises(UnknownAlgorithmError):
        default_registry().get("stepper")

    quiet_smash(tiny_llama, config)
    assert tiny_llama.smash_plan.steps[0].algorithm == "stepper"


def test_smash_applies_a_plan_only_to_a_model_that_fits_it(tiny_llama):
    plan = plan_smash(tiny_llama, SmashConfig(["quanto"]))
    deeper = models.tiny_llama(num_hidden_layers=3)
    before = {k: v.clone() for k, v in deeper.state_dict().items()}

    with pytest.raises(PlanError, match="does not fit the plan"):
        smash(deeper, plan)
    assert all(torch.equal(before[k], v) for k, v in deeper.state_dict().items())
    smash(models.tiny_llama(seed=9), plan)


def test_rebuild_smashed_is_the_public_replay_for_loading():
    from smash_models import meta_llama

    model = models.tiny_llama()
    plan = plan_smash(model, SmashConfig(["quanto"]))
    meta = meta_llama()
    rebuild_smashed(meta, plan)
    assert type(meta.model.layers[0].mlp.up_proj).__name__ == "QLinear"
    assert not hasattr(meta, "smash_plan")


def test_the_cli_plans_once(monkeypatch, capsys):
    import smashconfig.plan.build as build
    from smashconfig.cli import main

    calls = []
    original = build.plan_smash
    monkeypatch.setattr(build, "plan_smash", lambda *a, **k: calls.append(1) or original(*a, **k))

    assert main(["smash", "configs/quanto-int8.yaml", "--model", "tiny-llama"]) == 0
    assert len(calls) == 1


def test_the_default_registry_loads_once_under_concurrent_first_use(tmp_path):
    script = textwrap.dedent(
        """
        import threading
        from smashconfig import SmashConfig
        errors = []
        def work():
            try:
                SmashConfig().add("quanto")
            except Exception as error:
                errors.append(repr(error))
        threads = [threading.Thread(target=work) for _ in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(len(errors), errors[:1])
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.stdout.strip().startswith("0 ["), done.stdout + done.stderr
