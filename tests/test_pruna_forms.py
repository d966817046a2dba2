"""pruna's ways of writing a config (DESIGN.md section 3): every one means what pruna means."""

from __future__ import annotations

import pytest

from smashconfig import SmashConfig
from smashconfig.errors import GroupConflictError, InactiveAlgorithmError, WrongTypeError

TARGETS = {"include": ["transformer.*"], "exclude": ["*embed*"]}


def test_a_hyperparameter_key_in_add_is_item_assignment():
    by_add = SmashConfig().add("quanto").add({"quanto_target_modules": TARGETS})
    by_item = SmashConfig(["quanto"])
    by_item["quanto_target_modules"] = TARGETS
    assert by_add == by_item
    assert by_add["quanto_target_modules"] == TARGETS


def test_keys_and_algorithms_mix_in_one_add_in_any_order():
    cfg = SmashConfig().add({"quanto_weight_bits": "qint4", "quanto": None, "lora_r": 4, "adapter": "lora"})
    assert cfg.active_algorithms == ["quanto", "lora"]
    assert cfg["quanto_weight_bits"] == "qint4" and cfg["lora_r"] == 4


def test_the_constructor_takes_what_add_takes():
    assert SmashConfig({"quanto": {}, "quanto_weight_bits": "qint4"}) == SmashConfig({"quanto": {"weight_bits": "qint4"}})


def test_prefixed_keys_inside_an_algorithm_dict():
    cfg = SmashConfig({"quanto": {"quanto_weight_bits": "qint4", "target_modules": TARGETS}})
    assert cfg.to_dict(defaults=False) == {"quanto": {"weight_bits": "qint4", "target_modules": TARGETS}}


def test_prefixed_keys_inside_a_file_section():
    cfg = SmashConfig.from_yaml("quanto:\n  quanto_weight_bits: qint4\n")
    assert cfg["quanto_weight_bits"] == "qint4"


def test_an_algorithm_key_activates_and_deactivates():
    cfg = SmashConfig()
    assert cfg["quanto"] is False
    cfg["quanto"] = True
    cfg["quanto_weight_bits"] = "qint4"
    assert cfg.active_algorithms == ["quanto"] and cfg["quanto"] is True
    cfg["quanto"] = True  # already active: values kept
    assert cfg["quanto_weight_bits"] == "qint4"
    cfg["quanto"] = False
    assert cfg.active_algorithms == [] and cfg["quanto"] is False
    cfg["quanto"] = False  # already inactive: nothing to do
    assert cfg == SmashConfig()


def test_del_of_an_algorithm_key_deactivates_it():
    cfg = SmashConfig(["quanto", "lora"])
    del cfg["lora"]
    assert cfg.active_algorithms == ["quanto"]


def test_update_with_algorithm_keys_selects_first():
    cfg = SmashConfig()
    cfg.update({"lora_r": 32, "lora": True})
    assert cfg["lora_r"] == 32


def test_true_and_false_in_add_and_in_files():
    cfg = SmashConfig({"quanto": True, "lora": True})
    assert cfg.active_algorithms == ["quanto", "lora"]
    cfg.add({"lora": False})
    assert cfg.active_algorithms == ["quanto"]
    assert SmashConfig.from_yaml("quanto: true\nlora: false\n").active_algorithms == ["quanto"]


def test_an_algorithm_key_refuses_other_values_and_changes_nothing():
    cfg = SmashConfig(["quanto"])
    with pytest.raises(WrongTypeError) as info:
        cfg["lora"] = "yes"
    assert "True" in str(info.value) and "'yes'" in str(info.value)
    assert cfg.active_algorithms == ["quanto"]


def test_a_hyperparameter_key_of_an_inactive_algorithm_says_how_to_activate():
    with pytest.raises(InactiveAlgorithmError) as info:
        SmashConfig().add({"quanto_weight_bits": "qint4"})
    assert "cfg.add('quanto')" in str(info.value)


def test_one_add_cannot_choose_two_algorithms_for_one_group():
    cfg = SmashConfig()
    with pytest.raises(GroupConflictError):
        cfg.add({"quantizer": None, "quanto": {}})
    assert cfg == SmashConfig()
