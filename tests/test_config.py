from __future__ import annotations

import copy
import json
import warnings
from collections.abc import MutableMapping

import numpy as np
import pytest
import yaml
from torch import nn
from ConfigSpace import ConfigurationSpace, EqualsCondition
from ConfigSpace.hyperparameters import CategoricalHyperparameter

from smashconfig import SmashConfig
from smashconfig.errors import TargetPatternWarning
from smashconfig.contract.registry import default_registry
from smashconfig.target_modules import expand_list_of_targeted_paths

from models import leaf_paths


def test_issue_snippet():
    cfg = SmashConfig(); cfg["quantizer"] = "quanto"; cfg["quanto_weight_bits"] = "qint4"
    cfg["quanto_target_modules"] = {"include": ["transformer.*"], "exclude": ["*embed*"]}
    cfg.add({"lora": {"r": 16}})

    assert cfg.active_algorithms == ["quanto", "lora"]
    assert cfg["quantizer"] == "quanto"
    assert cfg["adapter"] == "lora"
    assert cfg["quanto_weight_bits"] == "qint4"
    assert cfg["quanto_target_modules"] == {"include": ["transformer.*"], "exclude": ["*embed*"]}
    assert cfg["lora_r"] == 16
    assert cfg["lora_alpha"] == 16
    assert cfg.to_dict() == {
        "quanto": {
            "weight_bits": "qint4",
            "activation_bits": "none",
            "target_modules": {"include": ["transformer.*"], "exclude": ["*embed*"]},
            "overrides": [],
        },
        "lora": {"r": 16, "alpha": 16, "dropout": 0.0, "target_modules": None, "overrides": []},
    }


def test_is_a_mutable_mapping():
    assert isinstance(SmashConfig(), MutableMapping)


def test_empty_config():
    cfg = SmashConfig()
    assert cfg.active_algorithms == []
    assert len(cfg) == 0
    assert list(cfg) == []
    assert cfg.to_dict() == {}
    assert cfg["quantizer"] is None
    assert cfg["adapter"] is None


def test_group_key_selects_and_deselects():
    cfg = SmashConfig()
    cfg["quantizer"] = "quanto"
    assert cfg.active_algorithms == ["quanto"]
    assert cfg["quantizer"] == "quanto"
    cfg["quantizer"] = None
    assert cfg.active_algorithms == []
    assert cfg["quantizer"] is None
    assert "quanto_weight_bits" not in cfg


def test_selecting_the_active_algorithm_again_keeps_its_values():
    cfg = SmashConfig({"quanto": {"weight_bits": "qint4"}})
    cfg["quantizer"] = "quanto"
    assert cfg["quanto_weight_bits"] == "qint4"


def test_deselecting_drops_values_and_reselecting_starts_from_defaults():
    cfg = SmashConfig({"quanto": {"weight_bits": "qint4"}})
    cfg["quantizer"] = None
    cfg["quantizer"] = "quanto"
    assert cfg["quanto_weight_bits"] == "qint8"


def test_hyperparameter_assignment():
    cfg = SmashConfig(["quanto", "lora"])
    cfg["quanto_weight_bits"] = "qfloat8"
    cfg["quanto_activation_bits"] = "qint8"
    cfg["lora_r"] = 64
    cfg["lora_alpha"] = 128
    cfg["lora_dropout"] = 0.05
    assert cfg["quanto_weight_bits"] == "qfloat8"
    assert cfg["quanto_activation_bits"] == "qint8"
    assert cfg["lora_r"] == 64
    assert cfg["lora_alpha"] == 128
    assert cfg["lora_dropout"] == 0.05


def test_integer_given_for_a_float_is_stored_as_float():
    cfg = SmashConfig("lora")
    cfg["lora_dropout"] = 0
    assert cfg["lora_dropout"] == 0.0
    assert type(cfg["lora_dropout"]) is float


def test_add_a_name():
    cfg = SmashConfig()
    returned = cfg.add("lora")
    assert returned is cfg
    assert cfg.active_algorithms == ["lora"]
    assert cfg["adapter"] == "lora"


def test_add_a_list():
    cfg = SmashConfig()
    cfg.add(["quanto", "lora"])
    assert cfg.active_algorithms == ["quanto", "lora"]


def test_add_a_dict_with_hyperparameters():
    cfg = SmashConfig()
    cfg.add({"quanto": {"weight_bits": "qint4", "target_modules": {"include": ["model.*"]}}})
    assert cfg["quanto_weight_bits"] == "qint4"
    assert cfg["quanto_target_modules"] == {"include": ["model.*"], "exclude": []}


def test_add_a_dict_with_none_uses_defaults():
    cfg = SmashConfig()
    cfg.add({"lora": None})
    assert cfg.params("lora") == {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": None, "overrides": []}


def test_adding_an_active_algorithm_again_keeps_its_values_and_updates_given_ones():
    cfg = SmashConfig({"lora": {"r": 32, "alpha": 8}})
    cfg.add({"lora": {"alpha": 64}})
    assert cfg["lora_r"] == 32
    assert cfg["lora_alpha"] == 64
    cfg.add("lora")
    assert cfg["lora_r"] == 32


def test_remove():
    cfg = SmashConfig({"quanto": {"weight_bits": "qint4"}, "lora": {"r": 4}})
    returned = cfg.remove("lora")
    assert returned is cfg
    assert cfg.active_algorithms == ["quanto"]
    assert cfg["adapter"] is None
    assert "lora_r" not in cfg
    assert cfg["quanto_weight_bits"] == "qint4"


def test_remove_a_list():
    cfg = SmashConfig(["quanto", "lora"])
    cfg.remove(["quanto", "lora"])
    assert cfg.active_algorithms == []
    assert cfg.to_dict() == {}


def test_remove_an_inactive_algorithm_changes_nothing():
    cfg = SmashConfig({"quanto": {"weight_bits": "qint2"}})
    cfg.remove("lora")
    assert cfg.to_dict() == SmashConfig({"quanto": {"weight_bits": "qint2"}}).to_dict()


def test_constructor_takes_what_add_takes():
    assert SmashConfig("quanto").active_algorithms == ["quanto"]
    assert SmashConfig(["quanto", "lora"]).active_algorithms == ["quanto", "lora"]
    from_dict = SmashConfig({"quanto": {"weight_bits": "qint4"}, "lora": {"r": 16}})
    assert from_dict["quanto_weight_bits"] == "qint4"
    assert from_dict["lora_r"] == 16


def test_defaults_match_the_design_table():
    cfg = SmashConfig(["quanto", "lora"])
    assert cfg.params("quanto") == {
        "weight_bits": "qint8",
        "activation_bits": "none",
        "target_modules": None,
        "overrides": [],
    }
    assert cfg.params("lora") == {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": None, "overrides": []}


@pytest.mark.parametrize(
    "key, kind",
    [
        ("lora_r", int),
        ("lora_alpha", int),
        ("lora_dropout", float),
        ("quanto_weight_bits", str),
        ("quanto_activation_bits", str),
    ],
)
def test_defaults_read_as_plain_python_values(key, kind):
    cfg = SmashConfig(["quanto", "lora"])
    assert type(cfg[key]) is kind


def test_to_dict_holds_only_plain_python_values():
    cfg = SmashConfig(["quanto", "lora"])
    for params in cfg.to_dict().values():
        for value in params.values():
            assert type(value) in (int, float, str, type(None), dict, list), value
    assert yaml.safe_load(yaml.safe_dump(cfg.to_dict())) == cfg.to_dict()


def test_numpy_values_are_stored_as_plain_python_values():
    cfg = SmashConfig(["quanto", "lora"])
    cfg["lora_r"] = np.int64(16)
    cfg["lora_dropout"] = np.float32(0.25)
    cfg["quanto_weight_bits"] = np.str_("qint4")
    assert type(cfg["lora_r"]) is int and cfg["lora_r"] == 16
    assert type(cfg["lora_dropout"]) is float and cfg["lora_dropout"] == 0.25
    assert type(cfg["quanto_weight_bits"]) is str and cfg["quanto_weight_bits"] == "qint4"


@pytest.mark.parametrize("order", [["quanto", "lora"], ["lora", "quanto"]])
def test_active_algorithms_quantizer_before_adapter_with_add(order):
    cfg = SmashConfig()
    for name in order:
        cfg.add(name)
    assert cfg.active_algorithms == ["quanto", "lora"]


def test_active_algorithms_order_with_item_assignment_and_dict():
    cfg = SmashConfig()
    cfg["adapter"] = "lora"
    cfg["quantizer"] = "quanto"
    assert cfg.active_algorithms == ["quanto", "lora"]
    assert SmashConfig({"lora": {}, "quanto": {}}).active_algorithms == ["quanto", "lora"]
    assert list(SmashConfig({"lora": {}, "quanto": {}}).to_dict()) == ["quanto", "lora"]


def test_iteration_len_and_contains():
    cfg = SmashConfig("lora")
    assert list(cfg) == ["adapter", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "lora_overrides"]
    assert len(cfg) == 6
    assert "lora_r" in cfg
    assert "adapter" in cfg
    assert "quantizer" not in cfg
    assert "quanto_weight_bits" not in cfg
    assert "nonsense" not in cfg
    assert dict(cfg) == {
        "adapter": "lora",
        "lora_r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.0,
        "lora_target_modules": None,
        "lora_overrides": [],
    }


def test_iteration_with_both_algorithms_lists_groups_first():
    cfg = SmashConfig(["lora", "quanto"])
    keys = list(cfg)
    assert keys[:2] == ["quantizer", "adapter"]
    assert set(keys[2:]) == {
        "quanto_weight_bits",
        "quanto_activation_bits",
        "quanto_target_modules",
        "quanto_overrides",
        "lora_r",
        "lora_alpha",
        "lora_dropout",
        "lora_target_modules",
        "lora_overrides",
    }
    assert len(cfg) == 11


def test_get_of_an_inactive_hyperparameter_returns_the_default_argument():
    cfg = SmashConfig()
    assert cfg.get("lora_r", "absent") == "absent"


def test_deleting_a_hyperparameter_resets_it_to_its_default():
    cfg = SmashConfig({"lora": {"r": 32}})
    del cfg["lora_r"]
    assert cfg["lora_r"] == 8
    assert cfg.active_algorithms == ["lora"]


def test_deleting_a_group_key_deselects():
    cfg = SmashConfig(["quanto", "lora"])
    del cfg["adapter"]
    assert cfg.active_algorithms == ["quanto"]


def test_to_dict_without_defaults_lists_only_set_values():
    cfg = SmashConfig({"quanto": {"weight_bits": "qint4"}, "lora": None})
    assert cfg.to_dict(defaults=False) == {"quanto": {"weight_bits": "qint4"}, "lora": {}}


def test_to_dict_from_dict_round_trip():
    cfg = SmashConfig(
        {
            "quanto": {"weight_bits": "qint2", "target_modules": {"include": "model.*", "exclude": ["*lm_head"]}},
            "lora": {"r": 4, "alpha": 8, "dropout": 0.1},
        }
    )
    again = SmashConfig.from_dict(cfg.to_dict())
    assert again == cfg
    assert again.to_dict() == cfg.to_dict()
    sparse = SmashConfig.from_dict(cfg.to_dict(defaults=False))
    assert sparse.to_dict(defaults=False) == cfg.to_dict(defaults=False)


def test_from_dict_flat_keys():
    cfg = SmashConfig.from_dict({"quantizer": "quanto", "quanto_weight_bits": "qint4", "adapter": "lora", "lora_r": 2})
    assert cfg.active_algorithms == ["quanto", "lora"]
    assert cfg["quanto_weight_bits"] == "qint4"
    assert cfg["lora_r"] == 2


def test_from_dict_flat_keys_in_any_order():
    cfg = SmashConfig.from_dict({"quanto_weight_bits": "qint4", "quantizer": "quanto"})
    assert cfg["quanto_weight_bits"] == "qint4"


def test_from_dict_empty():
    assert SmashConfig.from_dict({}) == SmashConfig()


def test_yaml_round_trip_through_a_path(tmp_path):
    cfg = SmashConfig({"quanto": {"weight_bits": "qint4", "target_modules": {"include": ["a.*"]}}, "lora": {"r": 16}})
    path = tmp_path / "config.yaml"
    text = cfg.to_yaml(path)
    assert path.read_text(encoding="utf-8") == text
    assert SmashConfig.from_yaml(path) == cfg


def test_yaml_round_trip_through_a_string_path(tmp_path):
    cfg = SmashConfig({"lora": {"alpha": 32}})
    path = tmp_path / "config.yaml"
    cfg.to_yaml(str(path))
    assert SmashConfig.from_yaml(str(path)) == cfg


def test_yaml_round_trip_through_text():
    cfg = SmashConfig({"quanto": {"activation_bits": "qfloat8"}, "lora": {"dropout": 0.2}})
    assert SmashConfig.from_yaml(cfg.to_yaml()) == cfg


def test_to_yaml_is_the_nested_canonical_form():
    cfg = SmashConfig({"quanto": {"weight_bits": "qint8", "target_modules": {"include": ["transformer.*"], "exclude": ["*embed*"]}}, "lora": {"r": 16}})
    data = yaml.safe_load(cfg.to_yaml())
    assert list(data) == ["quanto", "lora"]
    assert data["quanto"]["target_modules"] == {"include": ["transformer.*"], "exclude": ["*embed*"]}
    assert data["lora"]["r"] == 16


def test_yaml_text_of_the_design_example():
    text = """\
quanto:
  weight_bits: qint8
  target_modules:
    include: ["transformer.*"]
    exclude: ["*embed*"]
lora:
  r: 16
"""
    cfg = SmashConfig.from_yaml(text)
    assert cfg.active_algorithms == ["quanto", "lora"]
    assert cfg["quanto_target_modules"] == {"include": ["transformer.*"], "exclude": ["*embed*"]}
    assert cfg["lora_r"] == 16


def test_json_round_trip(tmp_path):
    cfg = SmashConfig({"quanto": {"weight_bits": "qfloat8", "target_modules": {"exclude": "lm_head"}}, "lora": {"r": 2}})
    text = cfg.to_json()
    assert json.loads(text) == cfg.to_dict()
    assert SmashConfig.from_json(text) == cfg
    path = tmp_path / "config.json"
    cfg.to_json(path)
    assert SmashConfig.from_json(path) == cfg
    assert SmashConfig.from_json(str(path)) == cfg


def test_copy_is_equal_and_independent():
    cfg = SmashConfig({"quanto": {"target_modules": {"include": ["a.*"]}}, "lora": {"r": 4}})
    other = cfg.copy()
    assert other == cfg
    assert other is not cfg
    other["lora_r"] = 8
    other["quanto_target_modules"] = {"include": ["b.*"]}
    assert cfg["lora_r"] == 4
    assert cfg["quanto_target_modules"] == {"include": ["a.*"], "exclude": []}
    assert other != cfg


def test_copy_module_functions_are_independent_too():
    cfg = SmashConfig({"lora": {"r": 4}})
    for other in (copy.copy(cfg), copy.deepcopy(cfg)):
        assert other == cfg
        other["lora_r"] = 2
        assert cfg["lora_r"] == 4


def test_a_pickled_config_round_trips_small_and_independent():
    import pickle

    cfg = SmashConfig({"quanto": {"target_modules": {"include": ["a.*"]}}, "lora": {"r": 4}})
    data = pickle.dumps(cfg)
    other = pickle.loads(data)
    assert other == cfg and other.to_dict(defaults=False) == cfg.to_dict(defaults=False)
    assert len(data) < 1000  # the values, not the registry or its ConfigurationSpace
    other["lora_r"] = 8
    assert cfg["lora_r"] == 4


def test_a_group_selected_with_a_str_subclass_stores_a_plain_str():
    cfg = SmashConfig()
    cfg["quantizer"] = np.str_("quanto")
    assert type(cfg["quantizer"]) is str
    assert cfg.to_yaml() == SmashConfig("quanto").to_yaml()


def test_equality():
    assert SmashConfig() == SmashConfig()
    assert SmashConfig("quanto") == SmashConfig({"quanto": {"weight_bits": "qint8"}})
    assert SmashConfig("quanto") != SmashConfig("lora")
    assert SmashConfig({"lora": {"r": 4}}) != SmashConfig({"lora": {"r": 5}})
    assert SmashConfig("quanto") != {"quanto": {}}


def test_repr_is_readable():
    cfg = SmashConfig({"quanto": {"weight_bits": "qint4"}, "lora": {"r": 16}})
    text = repr(cfg)
    assert text.startswith("SmashConfig(")
    assert "'quanto'" in text and "'qint4'" in text
    assert "'lora'" in text and "16" in text
    assert "object at 0x" not in text
    assert "numpy" not in text and "np." not in text


def test_two_configs_never_share_target_modules():
    before = SmashConfig("quanto")
    cfg = SmashConfig("quanto")
    cfg["quanto_target_modules"] = {"include": ["model.layers.*"]}
    after = SmashConfig("quanto")
    assert before["quanto_target_modules"] is None
    assert after["quanto_target_modules"] is None
    assert cfg["quanto_target_modules"] == {"include": ["model.layers.*"], "exclude": []}
    cfg["quanto_target_modules"]["include"].append("lm_head")  # a read is a copy
    assert cfg["quanto_target_modules"] == {"include": ["model.layers.*"], "exclude": []}


def test_two_configs_never_share_hyperparameter_values():
    a = SmashConfig("lora")
    b = SmashConfig("lora")
    a["lora_r"] = 128
    assert b["lora_r"] == 8
    assert SmashConfig("lora")["lora_r"] == 8


def test_mutating_the_target_modules_dict_given_leaves_the_config_unchanged():
    given = {"include": ["model.*"], "exclude": ["*norm*"]}
    cfg = SmashConfig("quanto")
    cfg["quanto_target_modules"] = given
    given["include"].append("lm_head")
    given["exclude"].clear()
    given["extra"] = ["x"]
    assert cfg["quanto_target_modules"] == {"include": ["model.*"], "exclude": ["*norm*"]}


def test_mutating_the_dict_given_to_the_constructor_leaves_the_config_unchanged():
    given = {"quanto": {"weight_bits": "qint4", "target_modules": {"include": ["model.*"]}}}
    cfg = SmashConfig(given)
    given["quanto"]["weight_bits"] = "qint2"
    given["quanto"]["target_modules"]["include"].append("x")
    given["lora"] = {}
    assert cfg.to_dict() == {
        "quanto": {"weight_bits": "qint4", "activation_bits": "none", "target_modules": {"include": ["model.*"], "exclude": []}, "overrides": []}
    }


def test_mutating_the_dict_given_to_from_dict_leaves_the_config_unchanged():
    given = {"quanto": {"target_modules": {"include": ["a.*"], "exclude": ["b"]}}}
    cfg = SmashConfig.from_dict(given)
    given["quanto"]["target_modules"]["exclude"].append("c")
    assert cfg["quanto_target_modules"] == {"include": ["a.*"], "exclude": ["b"]}


def test_the_user_dict_is_never_modified():
    given = {"include": "model.*"}
    snapshot = copy.deepcopy(given)
    cfg = SmashConfig("quanto")
    cfg["quanto_target_modules"] = given
    assert given == snapshot


def test_mutating_values_read_back_leaves_the_config_unchanged():
    cfg = SmashConfig({"quanto": {"target_modules": {"include": ["a.*"]}}})
    read = cfg["quanto_target_modules"]
    read["include"].append("b.*")
    read["exclude"].append("c")
    as_dict = cfg.to_dict()
    as_dict["quanto"]["target_modules"]["include"].clear()
    as_dict["quanto"]["weight_bits"] = "qint2"
    hyperparameters = cfg.params("quanto")
    hyperparameters["target_modules"]["include"].append("d")
    assert cfg["quanto_target_modules"] == {"include": ["a.*"], "exclude": []}
    assert cfg["quanto_weight_bits"] == "qint8"


def test_space_is_a_configspace_with_groups_as_categoricals():
    space = SmashConfig().space
    assert isinstance(space, ConfigurationSpace)
    for group, names in (("quantizer", ["quanto"]), ("adapter", ["lora"])):
        hp = space[group]
        assert isinstance(hp, CategoricalHyperparameter)
        assert set(names) <= set(hp.choices)
        assert None in hp.choices
        assert hp.default_value is None
        assert not space.parent_conditions_of[group]


@pytest.mark.parametrize(
    "key, group, algorithm",
    [
        ("quanto_weight_bits", "quantizer", "quanto"),
        ("quanto_activation_bits", "quantizer", "quanto"),
        ("quanto_target_modules", "quantizer", "quanto"),
        ("lora_r", "adapter", "lora"),
        ("lora_alpha", "adapter", "lora"),
        ("lora_dropout", "adapter", "lora"),
        ("lora_target_modules", "adapter", "lora"),
    ],
)
def test_space_conditions_hyperparameters_on_their_algorithm(key, group, algorithm):
    space = SmashConfig().space
    conditions = space.parent_conditions_of[key]
    assert len(conditions) == 1
    condition = conditions[0]
    assert isinstance(condition, EqualsCondition)
    assert condition.parent.name == group
    assert condition.value == algorithm


def test_space_holds_the_legal_values_and_defaults():
    space = SmashConfig().space
    assert list(space["quanto_weight_bits"].choices) == ["qint2", "qint4", "qint8", "qfloat8"]
    assert space["quanto_weight_bits"].default_value == "qint8"
    assert list(space["quanto_activation_bits"].choices) == ["none", "qint8", "qfloat8"]
    assert (space["lora_r"].lower, space["lora_r"].upper, space["lora_r"].default_value) == (1, 1024, 8)
    assert (space["lora_alpha"].lower, space["lora_alpha"].upper, space["lora_alpha"].default_value) == (1, 2048, 16)
    assert (space["lora_dropout"].lower, space["lora_dropout"].upper) == (0.0, 0.9)


def test_every_sampled_configuration_of_the_space_loads():
    space = SmashConfig().space
    space.seed(1)
    for sample in space.sample_configuration(25):
        values = dict(sample)
        cfg = SmashConfig.from_dict(values)
        for key, value in values.items():
            if key in ("quantizer", "adapter") or value is None:
                continue
            assert cfg[key] == value
            assert type(cfg[key]) in (int, float, str)


def test_changing_a_configs_space_does_not_change_the_space_of_another():
    from ConfigSpace import Constant

    cfg = SmashConfig({"lora": {"r": 99}})
    cfg.space.add(Constant("scribbled", 1))
    assert "scribbled" in cfg.space
    assert "scribbled" not in SmashConfig().space
    assert "scribbled" not in default_registry().space()
    assert cfg.space["lora_r"].default_value == 8 and cfg["lora_r"] == 99


def test_resolve_target_modules_returns_the_users_normalised_value(tiny_llama):
    cfg = SmashConfig({"quanto": {"target_modules": {"include": "model.layers.*"}}})
    assert cfg.resolve_target_modules(tiny_llama) == {"quanto": {"include": ["model.layers.*"], "exclude": []}}


def test_resolve_target_modules_infers_defaults_per_active_algorithm(tiny_llama):
    cfg = SmashConfig({"lora": {}, "quanto": {"target_modules": {"exclude": ["*mlp*"]}}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetPatternWarning)
        resolved = cfg.resolve_target_modules(tiny_llama)
    assert list(resolved) == ["quanto", "lora"]
    assert resolved["quanto"] == {"include": ["*"], "exclude": ["*mlp*"]}
    assert resolved["lora"] == default_registry().get("lora").default_target_modules(tiny_llama)
    linear = set(leaf_paths(tiny_llama, nn.Linear)) - {"lm_head"}
    assert set(expand_list_of_targeted_paths(resolved["lora"], tiny_llama)) == linear


def test_resolve_target_modules_of_an_empty_config(tiny_llama):
    assert SmashConfig().resolve_target_modules(tiny_llama) == {}


def test_resolve_target_modules_does_not_store_the_inferred_value(tiny_llama):
    cfg = SmashConfig("lora")
    cfg.resolve_target_modules(tiny_llama)
    assert cfg["lora_target_modules"] is None
