from __future__ import annotations

import copy
from typing import Any, Callable, Tuple, Type

import pytest
from ConfigSpace import Integer

from smashconfig import Algorithm, SmashConfig
from smashconfig.errors import (
    GroupConflictError,
    IllegalValueError,
    InactiveAlgorithmError,
    SmashConfigError,
    TargetModulesError,
    TargetModulesTypeError,
    UnknownAlgorithmError,
    UnknownKeyError,
    WrongTypeError,
)
from smashconfig.contract.registry import register_algorithm, unregister_algorithm


def state(cfg: SmashConfig) -> Tuple[Any, ...]:
    return (cfg.to_dict(), cfg.to_dict(defaults=False), cfg.active_algorithms, list(cfg))


def refuse(cfg: SmashConfig, change: Callable[[], Any], *kinds: Type[BaseException]) -> str:
    """Run ``change``; it must raise every one of ``kinds`` and leave ``cfg`` exactly as it was."""
    before = copy.deepcopy(state(cfg))
    with pytest.raises(SmashConfigError) as info:
        change()
    for kind in kinds:
        assert isinstance(info.value, kind), f"{type(info.value).__name__} is not a {kind.__name__}"
    assert state(cfg) == before
    return str(info.value)


@pytest.fixture
def cfg() -> SmashConfig:
    return SmashConfig(
        {"quanto": {"weight_bits": "qint4", "target_modules": {"include": ["model.*"]}}, "lora": {"r": 16}}
    )


@pytest.fixture
def quanto_only() -> SmashConfig:
    return SmashConfig({"quanto": {"weight_bits": "qint2"}})


class OtherQuantizer(Algorithm):
    name = "otherq"
    group = "quantizer"

    def hyperparameters(self):
        return [Integer("bits", (2, 8), default=4)]

    def apply(self, model, targets, params):
        pass


@pytest.fixture
def second_quantizer():
    register_algorithm(OtherQuantizer)
    try:
        yield "otherq"
    finally:
        unregister_algorithm("otherq")


# ----- unknown keys ---------------------------------------------------------------------------


def test_unknown_key_set_has_did_you_mean(cfg):
    message = refuse(cfg, lambda: cfg.__setitem__("quanto_weigth_bits", "qint4"), UnknownKeyError, KeyError)
    assert "'quanto_weigth_bits'" in message
    assert "Did you mean 'quanto_weight_bits'" in message


def test_unknown_key_read_has_did_you_mean(cfg):
    message = refuse(cfg, lambda: cfg["quanto_weigth_bits"], UnknownKeyError, KeyError)
    assert "'quanto_weigth_bits'" in message
    assert "'quanto_weight_bits'" in message


def test_an_unprefixed_hyperparameter_name_suggests_its_prefixed_key(cfg):
    message = refuse(cfg, lambda: cfg.__setitem__("r", 8), UnknownKeyError)
    assert "Did you mean 'lora_r'" in message
    with pytest.raises(UnknownKeyError, match="Did you mean 'lora_r'"):
        SmashConfig.from_yaml("r: 16\n")


@pytest.mark.parametrize(
    "changes",
    [
        {"quantizer": "quanto", "quanto_weight_bits": "qint5"},
        {"quanto_weight_bits": "qint8", "lora_r": 0},
        {"quanto_weight_bits": "qint8", "quanto_weigth_bits": "qint8"},
        {"adapter": None, "lora_r": 4},
    ],
    ids=["illegal-value", "out-of-range", "typo", "inactive"],
)
def test_update_is_all_or_nothing(cfg, changes):
    refuse(cfg, lambda: cfg.update(changes), SmashConfigError)


def test_update_selects_groups_before_setting_their_hyperparameters():
    cfg = SmashConfig()
    cfg.update({"quanto_weight_bits": "qint4", "quantizer": "quanto"}, adapter="lora", lora_r=4)
    assert cfg == SmashConfig({"quanto": {"weight_bits": "qint4"}, "lora": {"r": 4}})


def test_unknown_key_names_what_keys_are_allowed():
    cfg = SmashConfig()
    message = refuse(cfg, lambda: cfg.__setitem__("bits", 8), UnknownKeyError, KeyError)
    assert "'bits'" in message
    assert "'quantizer'" in message and "'adapter'" in message
    assert "<algorithm>_<hyperparameter>" in message


def test_unknown_key_of_another_type(cfg):
    message = refuse(cfg, lambda: cfg.__setitem__(3, "qint4"), UnknownKeyError, KeyError)
    assert "3" in message


def test_algorithm_name_used_as_a_key(cfg):
    message = refuse(cfg, lambda: cfg.__setitem__("quanto", {"weight_bits": "qint8"}), UnknownKeyError, KeyError)
    assert "'quanto'" in message
    assert "cfg['quantizer'] = 'quanto'" in message or "cfg.add('quanto')" in message


def test_unknown_hyperparameter_in_add_dict(cfg):
    message = refuse(cfg, lambda: cfg.add({"quanto": {"weigth_bits": "qint8"}}), UnknownKeyError, KeyError)
    assert "'weigth_bits'" in message
    assert "Did you mean 'weight_bits'" in message


def test_prefixed_hyperparameter_inside_an_algorithm_section(cfg):
    message = refuse(cfg, lambda: cfg.add({"quanto": {"quanto_weight_bits": "qint8"}}), UnknownKeyError, KeyError)
    assert "'quanto_weight_bits'" in message
    assert "'weight_bits'" in message


def test_unknown_top_level_key_in_from_dict():
    with pytest.raises(UnknownKeyError) as info:
        SmashConfig.from_dict({"quanto": {}, "quanto_weigth_bits": "qint4"})
    assert isinstance(info.value, KeyError)
    assert "'quanto_weigth_bits'" in str(info.value)
    assert "'quanto_weight_bits'" in str(info.value)


# ----- misspelled algorithms ------------------------------------------------------------------


def test_misspelled_algorithm_by_item_assignment():
    cfg = SmashConfig()
    message = refuse(cfg, lambda: cfg.__setitem__("quantizer", "quantto"), IllegalValueError, ValueError)
    assert "'quantto'" in message
    assert "quantizer" in message
    assert "Did you mean 'quanto'" in message


def test_misspelled_algorithm_by_add(cfg):
    message = refuse(cfg, lambda: cfg.add("quantto"), UnknownAlgorithmError, KeyError)
    assert "'quantto'" in message
    assert "'quanto'" in message and "'lora'" in message
    assert "Did you mean 'quanto'" in message


def test_misspelled_algorithm_by_add_list(cfg):
    message = refuse(cfg, lambda: cfg.add(["lora", "quantto"]), UnknownAlgorithmError, KeyError)
    assert "'quantto'" in message


def test_misspelled_algorithm_by_add_dict(cfg):
    message = refuse(cfg, lambda: cfg.add({"quantto": {"weight_bits": "qint8"}}), UnknownAlgorithmError, KeyError)
    assert "Did you mean 'quanto'" in message


def test_misspelled_algorithm_in_from_dict():
    with pytest.raises(UnknownKeyError) as info:
        SmashConfig.from_dict({"quantto": {"weight_bits": "qint8"}})
    assert "'quantto'" in str(info.value)
    assert "Did you mean 'quanto'" in str(info.value)


def test_misspelled_algorithm_in_remove(cfg):
    message = refuse(cfg, lambda: cfg.remove("lorra"), UnknownAlgorithmError, KeyError)
    assert "'lorra'" in message
    assert "'lora'" in message


def test_algorithm_of_another_group(cfg):
    message = refuse(cfg, lambda: cfg.__setitem__("adapter", "quanto"), IllegalValueError, ValueError)
    assert "'quanto'" in message
    assert "'quantizer'" in message


def test_group_name_given_to_add(cfg):
    message = refuse(cfg, lambda: cfg.add("quantizer"), UnknownAlgorithmError, ValueError)
    assert "'quantizer'" in message
    assert "'quanto'" in message


def test_group_key_given_a_non_string(cfg):
    message = refuse(cfg, lambda: cfg.__setitem__("quantizer", ["quanto"]), WrongTypeError, TypeError)
    assert "quantizer" in message
    assert "['quanto']" in message


# ----- illegal values -------------------------------------------------------------------------


def test_illegal_categorical_value(cfg):
    message = refuse(cfg, lambda: cfg.__setitem__("quanto_weight_bits", "qint3"), IllegalValueError, ValueError)
    assert "quanto_weight_bits" in message
    assert "'qint3'" in message
    for legal in ("'qint2'", "'qint4'", "'qint8'", "'qfloat8'"):
        assert legal in message


def test_illegal_activation_bits(cfg):
    message = refuse(cfg, lambda: cfg.__setitem__("quanto_activation_bits", "qint4"), IllegalValueError, ValueError)
    assert "quanto_activation_bits" in message
    assert "'none'" in message and "'qint8'" in message and "'qfloat8'" in message


@pytest.mark.parametrize("value", [0, 1025, -1])
def test_integer_out_of_range(cfg, value):
    message = refuse(cfg, lambda: cfg.__setitem__("lora_r", value), IllegalValueError, ValueError)
    assert "lora_r" in message
    assert str(value) in message
    assert "1 to 1024" in message


@pytest.mark.parametrize("value", [0.95, -0.1, float("nan"), float("inf")])
def test_float_out_of_range(cfg, value):
    message = refuse(cfg, lambda: cfg.__setitem__("lora_dropout", value), IllegalValueError, ValueError)
    assert "lora_dropout" in message
    assert repr(value) in message
    assert "0.0 to 0.9" in message


def test_float_given_an_integer_too_large_for_a_float(cfg):
    message = refuse(cfg, lambda: cfg.__setitem__("lora_dropout", 10**400), IllegalValueError, ValueError)
    assert "lora_dropout" in message
    assert "0.0 to 0.9" in message


def test_illegal_value_in_add_dict(cfg):
    message = refuse(cfg, lambda: cfg.add({"lora": {"alpha": 5000}}), IllegalValueError, ValueError)
    assert "lora_alpha" in message
    assert "5000" in message
    assert "1 to 2048" in message


def test_illegal_value_in_constructor():
    with pytest.raises(IllegalValueError) as info:
        SmashConfig({"quanto": {"weight_bits": "int8"}})
    assert "'int8'" in str(info.value)
    assert "'qint8'" in str(info.value)


def test_refused_add_changes_nothing_even_when_part_of_it_is_valid(quanto_only):
    message = refuse(
        quanto_only,
        lambda: quanto_only.add({"quanto": {"weight_bits": "qint8"}, "lora": {"r": 4, "dropout": 2.0}}),
        IllegalValueError,
    )
    assert "lora_dropout" in message
    assert quanto_only["quanto_weight_bits"] == "qint2"
    assert quanto_only.active_algorithms == ["quanto"]


# ----- wrong types ----------------------------------------------------------------------------


def test_string_for_an_integer_is_not_converted(cfg):
    message = refuse(cfg, lambda: cfg.__setitem__("lora_r", "32"), WrongTypeError, TypeError, ValueError)
    assert "lora_r" in message
    assert "'32'" in message
    assert "integer" in message
    assert cfg["lora_r"] == 16


def test_bool_for_an_integer(cfg):
    message = refuse(cfg, lambda: cfg.__setitem__("lora_r", True), WrongTypeError, TypeError, ValueError)
    assert "lora_r" in message
    assert "True" in message
    assert "integer" in message


def test_string_for_a_float(cfg):
    message = refuse(cfg, lambda: cfg.__setitem__("lora_dropout", "0.1"), WrongTypeError, TypeError, ValueError)
    assert "lora_dropout" in message
    assert "'0.1'" in message
    assert "number" in message


def test_bool_for_a_float(cfg):
    message = refuse(cfg, lambda: cfg.__setitem__("lora_dropout", False), WrongTypeError, TypeError)
    assert "lora_dropout" in message
    assert "False" in message


def test_none_for_an_integer(cfg):
    message = refuse(cfg, lambda: cfg.__setitem__("lora_alpha", None), WrongTypeError, TypeError)
    assert "lora_alpha" in message
    assert "None" in message


def test_integer_for_a_categorical(cfg):
    message = refuse(cfg, lambda: cfg.__setitem__("quanto_weight_bits", 8), WrongTypeError, TypeError)
    assert "quanto_weight_bits" in message
    assert "8" in message
    assert "'qint8'" in message


def test_wrong_type_in_yaml_string_stays_an_error():
    with pytest.raises(WrongTypeError) as info:
        SmashConfig.from_dict({"lora": {"r": "32"}})
    assert "'32'" in str(info.value)
    assert "integer" in str(info.value)


def test_add_given_something_else(cfg):
    message = refuse(cfg, lambda: cfg.add(3), WrongTypeError, TypeError)
    assert "3" in message


def test_add_dict_with_a_non_mapping_section(cfg):
    message = refuse(cfg, lambda: cfg.add({"lora": 16}), WrongTypeError, TypeError)
    assert "'lora'" in message
    assert "16" in message


def test_from_dict_given_a_non_mapping():
    with pytest.raises(WrongTypeError) as info:
        SmashConfig.from_dict(["quanto"])
    assert isinstance(info.value, TypeError)
    assert "['quanto']" in str(info.value)


# ----- inactive algorithms --------------------------------------------------------------------


def test_reading_a_hyperparameter_of_an_inactive_algorithm(quanto_only):
    message = refuse(quanto_only, lambda: quanto_only["lora_r"], InactiveAlgorithmError, KeyError)
    assert "'lora_r'" in message
    assert "not active" in message
    assert "cfg.add('lora')" in message


def test_setting_a_hyperparameter_of_an_inactive_algorithm(quanto_only):
    message = refuse(quanto_only, lambda: quanto_only.__setitem__("lora_r", 4), InactiveAlgorithmError, KeyError)
    assert "'lora_r'" in message
    assert "cfg.add('lora')" in message
    assert "cfg['adapter'] = 'lora'" in message
    assert "lora_r" not in quanto_only


def test_setting_target_modules_of_an_inactive_algorithm():
    cfg = SmashConfig()
    message = refuse(
        cfg, lambda: cfg.__setitem__("quanto_target_modules", {"include": ["a"]}), InactiveAlgorithmError, KeyError
    )
    assert "'quanto_target_modules'" in message
    assert "cfg.add('quanto')" in message


def test_deleting_a_hyperparameter_of_an_inactive_algorithm(quanto_only):
    message = refuse(quanto_only, lambda: quanto_only.__delitem__("lora_r"), InactiveAlgorithmError, KeyError)
    assert "cfg.add('lora')" in message


def test_inactive_flat_key_in_from_dict():
    with pytest.raises(InactiveAlgorithmError) as info:
        SmashConfig.from_dict({"lora_r": 4})
    assert "'lora_r'" in str(info.value)
    assert "lora:" in str(info.value) or "adapter: lora" in str(info.value)


def test_inactive_message_names_the_algorithm_that_is_active(second_quantizer):
    cfg = SmashConfig({second_quantizer: {"bits": 3}})
    message = refuse(cfg, lambda: cfg["quanto_weight_bits"], InactiveAlgorithmError, KeyError)
    assert "'otherq'" in message
    assert "cfg.add('quanto')" in message


def test_hyperparameters_of_an_inactive_algorithm(quanto_only):
    message = refuse(quanto_only, lambda: quanto_only.params("lora"), InactiveAlgorithmError, KeyError)
    assert "'lora'" in message
    assert "cfg.add('lora')" in message


# ----- target_modules -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [["model.layers.*"], "model.layers.*", ("a", "b"), 3])
def test_target_modules_not_a_dict(cfg, value):
    message = refuse(
        cfg, lambda: cfg.__setitem__("quanto_target_modules", value), TargetModulesTypeError, TypeError, ValueError
    )
    assert "quanto_target_modules" in message
    assert repr(value) in message
    assert "'include'" in message and "'exclude'" in message


def test_target_modules_with_another_key(cfg):
    message = refuse(
        cfg,
        lambda: cfg.__setitem__("quanto_target_modules", {"include": ["a.*"], "exlude": ["b"]}),
        TargetModulesError,
        ValueError,
    )
    assert "quanto_target_modules" in message
    assert "'exlude'" in message
    assert "'include'" in message and "'exclude'" in message
    assert "Did you mean 'exclude'" in message


def test_target_modules_with_a_non_string_pattern(cfg):
    message = refuse(
        cfg,
        lambda: cfg.__setitem__("lora_target_modules", {"include": ["a.*", 3]}),
        TargetModulesTypeError,
        TypeError,
        ValueError,
    )
    assert "lora_target_modules" in message
    assert "3 (int)" in message
    assert "string" in message


def test_target_modules_with_a_non_string_exclude(cfg):
    message = refuse(
        cfg,
        lambda: cfg.__setitem__("lora_target_modules", {"exclude": [None]}),
        TargetModulesTypeError,
        TypeError,
    )
    assert "exclude" in message
    assert "None" in message


def test_target_modules_include_of_the_wrong_container(cfg):
    message = refuse(
        cfg,
        lambda: cfg.__setitem__("quanto_target_modules", {"include": {"a.*"}}),
        TargetModulesTypeError,
        TypeError,
    )
    assert "include" in message
    assert "{'a.*'}" in message


@pytest.mark.parametrize("where", ["include", "exclude"])
def test_target_modules_with_an_empty_pattern(cfg, where):
    message = refuse(
        cfg,
        lambda: cfg.__setitem__("quanto_target_modules", {where: ["a.*", ""]}),
        TargetModulesError,
        ValueError,
    )
    assert f"quanto_target_modules.{where}" in message
    assert "empty pattern" in message


def test_target_modules_with_an_empty_include_list(cfg):
    message = refuse(
        cfg, lambda: cfg.__setitem__("quanto_target_modules", {"include": []}), TargetModulesError, ValueError
    )
    assert "quanto_target_modules.include" in message
    assert "empty" in message


def test_target_modules_error_in_add_dict(quanto_only):
    message = refuse(
        quanto_only,
        lambda: quanto_only.add({"lora": {"target_modules": ["q_proj"]}}),
        TargetModulesTypeError,
        TypeError,
    )
    assert "lora_target_modules" in message
    assert "{'include': ['q_proj']}" in message


# ----- one algorithm per group ----------------------------------------------------------------


def test_two_quantizers_in_one_add_list(second_quantizer):
    cfg = SmashConfig("lora")
    message = refuse(cfg, lambda: cfg.add(["quanto", second_quantizer]), GroupConflictError, ValueError)
    assert "'quanto'" in message and "'otherq'" in message
    assert "quantizer" in message
    assert cfg.active_algorithms == ["lora"]


def test_two_quantizers_in_one_add_dict(second_quantizer):
    cfg = SmashConfig()
    message = refuse(
        cfg, lambda: cfg.add({"quanto": {"weight_bits": "qint4"}, second_quantizer: {"bits": 2}}), GroupConflictError
    )
    assert "'quanto'" in message and "'otherq'" in message


def test_adding_onto_an_occupied_group(second_quantizer):
    cfg = SmashConfig({"quanto": {"weight_bits": "qint4"}})
    message = refuse(cfg, lambda: cfg.add(second_quantizer), GroupConflictError, ValueError)
    assert "'quanto'" in message and "'otherq'" in message
    assert "quantizer" in message
    assert cfg["quanto_weight_bits"] == "qint4"


def test_two_quantizers_in_the_constructor(second_quantizer):
    with pytest.raises(GroupConflictError) as info:
        SmashConfig(["quanto", second_quantizer])
    assert "'otherq'" in str(info.value)


def test_two_quantizers_in_from_dict(second_quantizer):
    with pytest.raises(GroupConflictError) as info:
        SmashConfig.from_dict({"quanto": {"weight_bits": "qint4"}, second_quantizer: {"bits": 3}})
    assert isinstance(info.value, ValueError)
    assert "'quanto'" in str(info.value) and "'otherq'" in str(info.value)
    assert "quantizer" in str(info.value)


def test_section_and_group_key_disagree_in_from_dict(second_quantizer):
    with pytest.raises(GroupConflictError) as info:
        SmashConfig.from_dict({"quantizer": "quanto", second_quantizer: {}})
    assert "'quanto'" in str(info.value) and "'otherq'" in str(info.value)


def test_item_assignment_switches_the_algorithm_of_a_group(second_quantizer):
    cfg = SmashConfig({"quanto": {"weight_bits": "qint4"}})
    cfg["quantizer"] = second_quantizer
    assert cfg.active_algorithms == ["otherq"]
    assert "quanto_weight_bits" not in cfg
    assert cfg["otherq_bits"] == 4


def test_key_given_twice_in_from_dict():
    with pytest.raises(IllegalValueError) as info:
        SmashConfig.from_dict({"quanto": {"weight_bits": "qint4"}, "quanto_weight_bits": "qint8"})
    assert "'quanto_weight_bits'" in str(info.value)


# ----- no foreign exception types -------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c.__setitem__("lora_r", 3.5),
        lambda c: c.__setitem__("lora_r", [1]),
        lambda c: c.__setitem__("quanto_weight_bits", {"qint4": 1}),
        lambda c: c.__setitem__("quanto_activation_bits", None),
        lambda c: c.__setitem__("lora_dropout", 1 + 2j),
        lambda c: c.add([["quanto"]]),
        lambda c: c.add({("quanto",): {}}),
        lambda c: c.add({"quanto": {3: 4}}),
        lambda c: c.__setitem__("quanto_target_modules", {1: ["a"]}),
    ],
)
def test_odd_inputs_raise_smashconfig_errors(cfg, change):
    refuse(cfg, lambda: change(cfg), SmashConfigError)
