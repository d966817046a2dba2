"""Per-module hyperparameters: ``<algorithm>_overrides`` rules, checked when set, decided per module."""

from __future__ import annotations

import json
import warnings
from typing import Any, List

import pytest
import torch

import models
from smash_models import llama_logits, meta_llama, randomize_adapters, state
from smashconfig import Algorithm, SmashConfig, SmashPlan, load_smashed, plan_smash, save_smashed, smash
from smashconfig.contract.registry import Registry
from smashconfig.errors import (
    IllegalValueError,
    SmashConfigError,
    TargetModulesError,
    TargetPatternError,
    TargetPatternWarning,
    UnknownKeyError,
    WrongTypeError,
)
from smashconfig.target_modules import explain_targets

ATTENTION_8 = {"include": ["*.self_attn.*"], "weight_bits": "qfloat8"}


def quanto(**values: Any) -> SmashConfig:
    return SmashConfig({"quanto": values})


def quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


# ----- deciding --------------------------------------------------------------------------------


def test_rules_split_the_step_into_groups_by_effective_values(tiny_llama):
    plan = plan_smash(tiny_llama, quanto(overrides=[ATTENTION_8]))

    (step,) = plan.steps
    groups = {tuple(sorted(g["params"].items())): g for g in step.groups}
    assert len(groups) == 2
    attention = next(g for g in step.groups if g["params"]["weight_bits"] == "qfloat8")
    rest = next(g for g in step.groups if g["params"]["weight_bits"] == "qint8")
    assert attention["paths"] == [p for p in step.acted if ".self_attn." in p]
    assert rest["paths"] == [p for p in step.acted if ".self_attn." not in p]
    assert attention["set_by"] == {"weight_bits": [1]} and rest["set_by"] == {}
    assert sorted(attention["paths"] + rest["paths"]) == sorted(step.acted)


def test_the_last_matching_rule_decides_each_value(tiny_llama):
    rules = [
        {"include": ["model.layers.*"], "weight_bits": "qfloat8"},
        {"include": ["model.layers.1.*"], "weight_bits": "qint8"},
    ]
    plan = plan_smash(tiny_llama, quanto(weight_bits="qfloat8", overrides=rules))

    by_path = {p: g for g in plan.steps[0].groups for p in g["paths"]}
    assert by_path["model.layers.0.mlp.up_proj"]["params"]["weight_bits"] == "qfloat8"
    assert by_path["model.layers.1.mlp.up_proj"]["params"]["weight_bits"] == "qint8"
    assert by_path["model.layers.1.mlp.up_proj"]["set_by"] == {"weight_bits": [2]}


def test_a_rule_exclude_hands_the_module_back_to_an_earlier_rule(tiny_llama):
    rules = [
        {"include": ["*.mlp.*"], "weight_bits": "qfloat8"},
        {"include": ["*"], "exclude": ["*.down_proj"], "weight_bits": "qint8"},
    ]
    plan = plan_smash(tiny_llama, quanto(overrides=rules))

    by_path = {p: g for g in plan.steps[0].groups for p in g["paths"]}
    assert by_path["model.layers.0.mlp.down_proj"]["set_by"] == {"weight_bits": [1]}
    assert by_path["model.layers.0.mlp.down_proj"]["params"]["weight_bits"] == "qfloat8"
    assert by_path["model.layers.0.mlp.up_proj"]["set_by"] == {"weight_bits": [2]}


def test_rules_never_add_or_remove_targets(tiny_llama):
    targets = {"include": ["model.layers.0.*"]}
    without = plan_smash(tiny_llama, quanto(target_modules=targets)).steps[0]
    rules = [{"include": ["*"], "weight_bits": "qfloat8"}]
    with_rules = plan_smash(tiny_llama, quanto(target_modules=targets, overrides=rules)).steps[0]

    assert with_rules.targeted == without.targeted and with_rules.acted == without.acted
    assert all(g["params"]["weight_bits"] == "qfloat8" for g in with_rules.groups)


def test_a_rule_that_matches_no_targeted_module_warns_and_strict_refuses(tiny_llama):
    rules = [ATTENTION_8, {"include": ["lm_head"], "weight_bits": "qfloat8"}]
    config = quanto(overrides=rules)

    with pytest.warns(TargetPatternWarning, match=r"quanto_overrides: rule 2 .*lm_head.* matches no module"):
        plan_smash(tiny_llama, config)
    with pytest.raises(TargetPatternError, match="rule 2"):
        plan_smash(tiny_llama, config, strict=True)


def test_an_activation_override_changes_what_quanto_acts_on(tiny_llama):
    rules = [{"include": ["model.layers.0.*"], "activation_bits": "qint8"}]
    step = plan_smash(tiny_llama, quanto(target_modules={"include": ["model.layers.*"]}, overrides=rules)).steps[0]

    assert "model.layers.0.input_layernorm" not in step.acted  # RMSNorm, not LayerNorm: skipped either way
    assert step.needs_calibration
    assert any(g["params"]["activation_bits"] == "qint8" for g in step.groups)


# ----- checked when set ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rules, error, words",
    [
        ([{"include": ["*"], "weight_bit": "qint4"}], UnknownKeyError, ["weight_bit", "weight_bits"]),
        ([{"include": ["*"], "weight_bits": "qint3"}], IllegalValueError, ["qint3", "qint4"]),
        ([{"include": ["*"], "weight_bits": 4}], WrongTypeError, ["weight_bits", "4"]),
        ([{"include": ["*"], "target_modules": {"include": ["*"]}}], IllegalValueError, ["target_modules"]),
        ([{"include": ["*"], "overrides": []}], IllegalValueError, ["overrides"]),
        (["*.self_attn.*"], WrongTypeError, ["rule 1", "mapping"]),
        ([{"weight_bits": "qint4"}], TargetModulesError, ["rule 1", "include"]),
        ([{"include": [], "weight_bits": "qint4"}], TargetModulesError, ["include"]),
        ([{"include": ["*"]}], IllegalValueError, ["sets no hyperparameter"]),
        ([{"include": ["*"], "exclude": [3], "weight_bits": "qint4"}], TargetModulesError, ["3"]),
        ({"include": ["*"], "weight_bits": "qint4"}, WrongTypeError, ["list of rules"]),
        ("*.attn.*", WrongTypeError, ["list of rules"]),
    ],
)
def test_a_bad_rule_is_refused_when_set_and_the_config_is_unchanged(rules, error, words):
    config = quanto(weight_bits="qint4")
    before = config.to_dict()

    with pytest.raises(error) as caught:
        config["quanto_overrides"] = rules

    assert isinstance(caught.value, SmashConfigError)
    for word in words:
        assert word in str(caught.value)
    assert "quanto_overrides" in str(caught.value)
    assert config.to_dict() == before


def test_a_bad_rule_in_a_yaml_file_names_its_line():
    text = "quanto:\n  weight_bits: qint4\n  overrides:\n    - include: ['*.attn.*']\n      weight_bits: qint5\n"
    with pytest.raises(IllegalValueError, match="qint5"):
        SmashConfig.from_yaml(text)


def test_an_algorithm_may_declare_a_hyperparameter_not_overridable():
    class Fixed(Algorithm):
        name = "fixedprune"
        group = "pruner"
        overridable = ("amount",)

        def hyperparameters(self) -> List[Any]:
            from ConfigSpace import Categorical, Float

            return [Float("amount", (0.0, 1.0), default=0.5), Categorical("method", ["l1", "random"], default="l1")]

        def apply(self, model, targets, params):
            pass

    registry = Registry(discover=False)
    registry.register(Fixed)
    config = SmashConfig({"fixedprune": {}}, registry=registry)

    config["fixedprune_overrides"] = [{"include": ["*"], "amount": 0.25}]
    with pytest.raises(IllegalValueError, match="does not let a rule override"):
        config["fixedprune_overrides"] = [{"include": ["*"], "method": "random"}]


def test_a_rule_is_checked_against_the_conditions_among_hyperparameters():
    class Conditional(Algorithm):
        name = "condprune"
        group = "pruner"

        def hyperparameters(self) -> List[Any]:
            from ConfigSpace import Categorical, Integer

            return [Categorical("method", ["plain", "structured"], default="plain"), Integer("block", (1, 8), default=2)]

        def conditions(self) -> List[Any]:
            from ConfigSpace import EqualsCondition

            hps = {hp.name: hp for hp in self.hyperparameters()}
            return [EqualsCondition(hps["block"], hps["method"], "structured")]

        def apply(self, model, targets, params):
            pass

    registry = Registry(discover=False)
    registry.register(Conditional)
    config = SmashConfig({"condprune": {}}, registry=registry)

    with pytest.raises(SmashConfigError, match="rule 1 sets 'block', which is inactive"):
        config["condprune_overrides"] = [{"include": ["*"], "block": 4}]
    config["condprune_overrides"] = [{"include": ["*"], "method": "structured", "block": 4}]
    assert config["condprune_overrides"][0]["block"] == 4


# ----- a third-party algorithm gets them without code of its own -----------------------------------


def test_a_simple_apply_is_called_once_per_group(tiny_llama):
    calls: list = []

    class Recorder(Algorithm):
        name = "recorder"
        group = "recorders"

        def hyperparameters(self) -> List[Any]:
            from ConfigSpace import Integer

            return [Integer("level", (0, 9), default=1)]

        def apply(self, model, targets, params):
            calls.append((list(targets), dict(params)))

    registry = Registry()
    registry.register(Recorder)
    config = SmashConfig(
        {"recorder": {"target_modules": {"include": ["model.layers.0.*"]}, "overrides": [{"include": ["*.mlp.*"], "level": 7}]}},
        registry=registry,
    )
    quiet(lambda: smash(tiny_llama, config))

    assert [params["level"] for _, params in calls] == [1, 7]
    assert all(".mlp." in path for path in calls[1][0]) and not any(".mlp." in path for path in calls[0][0])


# ----- explained, saved, reloaded, compared ------------------------------------------------------


def test_explain_shows_each_modules_values_and_the_rule_that_set_them(tiny_llama):
    explanation = quiet(lambda: explain_targets(None, tiny_llama, "quanto", overrides=[ATTENTION_8]))

    q = explanation.record("model.layers.0.self_attn.q_proj")
    up = explanation.record("model.layers.0.mlp.up_proj")
    assert q.values["weight_bits"] == "qfloat8" and q.set_by == {"weight_bits": 1}
    assert up.values["weight_bits"] == "qint8" and up.set_by is None
    text = explanation.render()
    assert "weight_bits=qfloat8 (rule 1)" in text
    assert "weight_bits=qint8" in text


def test_the_plan_text_shows_each_group(tiny_llama):
    text = str(plan_smash(tiny_llama, quanto(overrides=[ATTENTION_8])))
    assert "2 groups" in text
    assert "weight_bits=qfloat8" in text and "rule 1" in text


def test_mixed_precision_quanto_saves_and_reloads_bit_exact(tmp_path, tiny_llama):
    smash(tiny_llama, quanto(overrides=[ATTENTION_8]))
    kinds = {type(tiny_llama.get_submodule(p)).__name__ for p in tiny_llama.smash_plan.steps[0].acted}
    assert kinds == {"QLinear"}
    assert str(tiny_llama.model.layers[0].self_attn.q_proj.weight_qtype) != str(tiny_llama.model.layers[0].mlp.up_proj.weight_qtype)
    expected = llama_logits(tiny_llama)

    save_smashed(tiny_llama, tmp_path)
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["steps"][0]["overrides"][0]["weight_bits"] == "qfloat8"
    loaded = load_smashed(tmp_path, meta_llama())

    assert torch.equal(llama_logits(loaded), expected)
    assert str(loaded.model.layers[0].self_attn.q_proj.weight_qtype) == str(tiny_llama.model.layers[0].self_attn.q_proj.weight_qtype)


def test_lora_ranks_per_module_save_and_reload_bit_exact(tmp_path, tiny_llama):
    config = SmashConfig({"lora": {"r": 2, "overrides": [{"include": ["*.self_attn.q_proj"], "r": 8, "alpha": 32}]}})
    smash(tiny_llama, config)
    layers = tiny_llama.model.layers[0]
    assert layers.self_attn.q_proj.lora_A["default"].weight.shape[0] == 8
    assert layers.self_attn.k_proj.lora_A["default"].weight.shape[0] == 2
    assert layers.self_attn.q_proj.scaling["default"] == 32 / 8
    randomize_adapters(tiny_llama)
    expected = llama_logits(tiny_llama)

    save_smashed(tiny_llama, tmp_path)
    loaded = load_smashed(tmp_path, meta_llama())

    assert torch.equal(llama_logits(loaded), expected)
    assert loaded.model.layers[0].self_attn.q_proj.lora_A["default"].weight.shape[0] == 8


def test_an_edited_rule_in_a_saved_plan_is_refused(tmp_path, tiny_llama):
    smash(tiny_llama, quanto(overrides=[ATTENTION_8]))
    plan = SmashPlan.from_dict(tiny_llama.smash_plan.to_dict())
    plan.steps[0].groups[0]["params"]["weight_bits"] = "qint5"
    with pytest.raises(SmashConfigError, match="qint5"):
        plan.check_values()


def test_a_plan_records_groups_that_verify_detects_changed(tiny_llama):
    plan = plan_smash(tiny_llama, quanto(overrides=[ATTENTION_8]))
    assert plan.verify(models.tiny_llama(seed=3)).ok

    edited = SmashPlan.from_dict(plan.to_dict())
    edited.steps[0].groups[0]["params"] = {**edited.steps[0].groups[0]["params"], "weight_bits": "qint8"}
    diff = edited.verify(models.tiny_llama(seed=3))
    assert not diff.ok and "weight_bits differs" in str(diff)


def test_smash_applies_a_plan_read_back_from_json(tiny_llama):
    plan = plan_smash(tiny_llama, quanto(overrides=[ATTENTION_8]))
    replayed = SmashPlan.from_json(plan.to_json())
    model = models.tiny_llama()
    expected_model = models.tiny_llama()
    smash(expected_model, quanto(overrides=[ATTENTION_8]))

    smash(model, replayed)

    assert torch.equal(llama_logits(model), llama_logits(expected_model))
    assert {k: v for k, v in state(model).items()}.keys() == state(expected_model).keys()


def test_cli_against_reports_a_rule_change(tmp_path, tiny_llama, capsys):
    from smashconfig.cli import main

    plan = plan_smash(tiny_llama, quanto(overrides=[ATTENTION_8]))
    (tmp_path / "plan.json").write_text(plan.to_json())
    config = tmp_path / "config.yaml"
    config.write_text("quanto:\n  overrides:\n    - include: ['*.mlp.*']\n      weight_bits: qfloat8\n")

    code = main(["targets", str(config), "--model", "tiny-llama", "--against", str(tmp_path / "plan.json")])

    assert code == 1
    out = capsys.readouterr().out
    assert "override rules differ" in out and "weight_bits differs" in out
