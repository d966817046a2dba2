from __future__ import annotations

import importlib
import importlib.metadata
import textwrap
import warnings

import pytest
from ConfigSpace import Categorical, EqualsCondition, Float, Integer
from ConfigSpace.hyperparameters import CategoricalHyperparameter

from smashconfig import Algorithm, SmashConfig, register_algorithm, unregister_algorithm
from smashconfig.cli import main
from smashconfig.errors import (
    IllegalValueError,
    MissingBackendError,
    RegistryError,
    UnknownKeyError,
    WrongTypeError,
)
from smashconfig.contract.registry import Registry, default_registry
from smashconfig.target_modules.rules import ENTRY_POINT_GROUP
from smashconfig.target_modules import expand_list_of_targeted_paths


class ToyPrune(Algorithm):
    name = "toyprune"
    group = "pruner"

    def hyperparameters(self):
        return [
            Float("sparsity", (0.0, 1.0), default=0.5),
            Categorical("method", ["magnitude", "random"], default="magnitude"),
        ]

    def apply(self, model, targets, params):
        pass


@pytest.fixture
def registered():
    """Register classes for one test; every one of them is unregistered afterwards."""
    names = []

    def register(algorithm, **kwargs):
        result = register_algorithm(algorithm, **kwargs)
        names.append(algorithm.name)
        return result

    try:
        yield register
    finally:
        for name in names:
            if name in default_registry().algorithms():
                unregister_algorithm(name)


@pytest.fixture
def toy(registered):
    registered(ToyPrune)
    return "toyprune"


def snapshot():
    registry = default_registry()
    return list(registry.algorithms()), sorted(registry.keys())


def test_third_party_algorithm_appears_in_the_space(toy):
    space = SmashConfig().space
    group = space["pruner"]
    assert isinstance(group, CategoricalHyperparameter)
    assert "toyprune" in group.choices and None in group.choices
    assert space["toyprune_sparsity"].default_value == 0.5
    condition = space.parent_conditions_of["toyprune_sparsity"][0]
    assert isinstance(condition, EqualsCondition)
    assert (condition.parent.name, condition.value) == ("pruner", "toyprune")
    assert "toyprune_target_modules" in space


def test_built_ins_are_unchanged_by_a_third_party_algorithm(toy):
    cfg = SmashConfig(["quanto", "lora"])
    assert cfg.params("quanto")["weight_bits"] == "qint8"
    assert cfg["lora_r"] == 8


def test_third_party_algorithm_by_item_assignment(toy):
    cfg = SmashConfig()
    cfg["pruner"] = "toyprune"
    assert cfg.active_algorithms == ["toyprune"]
    assert type(cfg["toyprune_sparsity"]) is float and cfg["toyprune_sparsity"] == 0.5
    assert type(cfg["toyprune_method"]) is str and cfg["toyprune_method"] == "magnitude"
    cfg["toyprune_sparsity"] = 0.75
    cfg["toyprune_method"] = "random"
    assert cfg.to_dict() == {"toyprune": {"sparsity": 0.75, "method": "random", "target_modules": None, "overrides": []}}


def test_third_party_algorithm_is_validated_like_a_built_in(toy):
    cfg = SmashConfig("toyprune")
    with pytest.raises(IllegalValueError) as info:
        cfg["toyprune_sparsity"] = 1.5
    assert "toyprune_sparsity" in str(info.value) and "0.0 to 1.0" in str(info.value)
    with pytest.raises(WrongTypeError):
        cfg["toyprune_sparsity"] = "0.5"
    with pytest.raises(UnknownKeyError) as info:
        cfg["toyprune_sparsty"] = 0.1
    assert "'toyprune_sparsity'" in str(info.value)


def test_third_party_algorithm_with_built_ins(toy):
    cfg = SmashConfig(["toyprune", "lora", "quanto"])
    assert set(cfg.active_algorithms) == {"quanto", "lora", "toyprune"}
    assert cfg.active_algorithms.index("quanto") < cfg.active_algorithms.index("lora")


def test_third_party_algorithm_from_yaml(toy):
    nested = SmashConfig.from_yaml("toyprune:\n  sparsity: 0.25\nquanto:\n  weight_bits: qint4\n")
    flat = SmashConfig.from_yaml("pruner: toyprune\ntoyprune_sparsity: 0.25\nquantizer: quanto\nquanto_weight_bits: qint4\n")
    assert nested == flat
    assert nested["toyprune_sparsity"] == 0.25
    assert SmashConfig.from_yaml(nested.to_yaml()) == nested


def test_third_party_algorithm_in_the_algorithms_command(toy, capsys):
    assert main(["algorithms"]) == 0
    out = capsys.readouterr().out
    assert "toyprune" in out
    line = next(line for line in out.splitlines() if "toyprune_sparsity" in line)
    assert "default 0.5" in line
    assert "0.0 to 1.0" in line
    method = next(line for line in out.splitlines() if "toyprune_method" in line)
    assert "'magnitude'" in method and "'random'" in method


def test_register_is_usable_as_a_decorator(registered):
    @registered
    class Decorated(Algorithm):
        name = "decorated"
        group = "decorator"

        def hyperparameters(self):
            return []

        def apply(self, model, targets, params):
            pass

    assert isinstance(Decorated, type)
    assert SmashConfig("decorated").active_algorithms == ["decorated"]


def test_register_an_instance(registered):
    instance = ToyPrune()
    assert registered(instance) is instance
    assert default_registry().get("toyprune") is instance


def test_base_class_supplies_sensible_defaults(toy, sequential):
    algorithm = default_registry().get("toyprune")
    algorithm.check_backend()
    assert algorithm.missing_packages() == []
    assert 'pip install "smashconfig[toyprune]"' == algorithm.install_hint()
    value = algorithm.default_target_modules(sequential)
    assert expand_list_of_targeted_paths(value, sequential) == ["0", "2"]
    assert algorithm.default_params() == {"sparsity": 0.5, "method": "magnitude", "target_modules": None, "overrides": []}


def test_space_of_an_existing_config_follows_registration(registered):
    cfg = SmashConfig()
    assert "pruner" not in cfg.space
    registered(ToyPrune)
    assert "pruner" in cfg.space
    assert "toyprune_sparsity" in cfg.space
    cfg["pruner"] = "toyprune"
    assert cfg.active_algorithms == ["toyprune"]


class Conditional(Algorithm):
    name = "conditional"
    group = "conditionals"

    def hyperparameters(self):
        return [
            Categorical("mode", ["fixed", "auto"], default="fixed"),
            Integer("level", (1, 4), default=2),
        ]

    def conditions(self):
        hps = {hp.name: hp for hp in self.hyperparameters()}
        return [EqualsCondition(hps["level"], hps["mode"], "fixed")]

    def apply(self, model, targets, params):
        pass


def test_condition_among_an_algorithms_own_hyperparameters(registered):
    registered(Conditional)
    space = SmashConfig().space
    condition = space.parent_conditions_of["conditional_level"][0]
    assert (condition.parent.name, condition.value) == ("conditional_mode", "fixed")
    cfg = SmashConfig({"conditional": {"level": 3}})
    assert cfg["conditional_level"] == 3
    cfg = SmashConfig("conditional")
    cfg["conditional_mode"] = "auto"
    assert cfg["conditional_mode"] == "auto"


def test_unregister_removes_the_algorithm():
    register_algorithm(ToyPrune)
    try:
        assert "toyprune_sparsity" in SmashConfig().space
    finally:
        unregister_algorithm("toyprune")
    assert "toyprune_sparsity" not in SmashConfig().space
    assert "pruner" not in SmashConfig().space
    with pytest.raises(UnknownKeyError):
        SmashConfig()["pruner"] = "toyprune"


def test_duplicate_name_is_refused(toy):
    before = snapshot()
    with pytest.raises(RegistryError) as info:
        register_algorithm(ToyPrune)
    assert isinstance(info.value, ValueError)
    assert "'toyprune'" in str(info.value)
    assert snapshot() == before


def test_built_in_name_is_refused():
    class FakeQuanto(ToyPrune):
        name = "quanto"
        group = "fakequantizer"

    before = snapshot()
    with pytest.raises(RegistryError) as info:
        register_algorithm(FakeQuanto)
    assert "'quanto'" in str(info.value)
    assert snapshot() == before
    assert type(default_registry().get("quanto")).__name__ == "Quanto"


def test_hyperparameter_key_that_clashes_with_an_existing_key_is_refused():
    class Clash(Algorithm):
        name = "quanto_weight"
        group = "weights"

        def hyperparameters(self):
            return [Integer("bits", (2, 8), default=4)]

        def apply(self, model, targets, params):
            pass

    before = snapshot()
    with pytest.raises(RegistryError) as info:
        register_algorithm(Clash)
    assert isinstance(info.value, ValueError)
    assert "quanto_weight_bits" in str(info.value)
    assert snapshot() == before
    assert "quanto_weight" not in default_registry().algorithms()


def test_target_modules_key_clash_is_refused():
    class Clash(ToyPrune):
        name = "lora_target"
        group = "targets"

        def hyperparameters(self):
            return [Integer("modules", (1, 2), default=1)]

    with pytest.raises(RegistryError) as info:
        register_algorithm(Clash)
    assert "lora_target_modules" in str(info.value)


def test_algorithm_named_like_an_existing_key_is_refused():
    class Clash(ToyPrune):
        name = "lora_r"
        group = "ranks"

    with pytest.raises(RegistryError):
        register_algorithm(Clash)
    assert "lora_r" not in default_registry().algorithms()


def test_algorithm_named_like_a_group_is_refused():
    class Clash(ToyPrune):
        name = "adapter"
        group = "adapters"

    with pytest.raises(RegistryError):
        register_algorithm(Clash)


def test_declaring_target_modules_is_refused():
    class Clash(ToyPrune):
        name = "declares"
        group = "declaring"

        def hyperparameters(self):
            return [Integer("target_modules", (1, 2), default=1)]

    with pytest.raises(RegistryError) as info:
        register_algorithm(Clash)
    assert "target_modules" in str(info.value)


def test_non_algorithm_is_refused():
    with pytest.raises(RegistryError):
        register_algorithm(object())


def test_built_ins_come_from_entry_points():
    entry_points = {ep.name: ep for ep in importlib.metadata.entry_points(group="smashconfig.algorithms")}
    assert ENTRY_POINT_GROUP == "smashconfig.algorithms"
    assert {"quanto", "lora"} <= set(entry_points)
    for name in ("quanto", "lora"):
        loaded = entry_points[name].load()
        assert issubclass(loaded, Algorithm)
        assert loaded.name == name
        assert type(default_registry().get(name)) is loaded
    assert default_registry().get("quanto").group == "quantizer"
    assert default_registry().get("lora").group == "adapter"


def test_third_party_entry_point_is_discovered(tmp_path, monkeypatch):
    (tmp_path / "toy_plugin_module.py").write_text(
        textwrap.dedent(
            """\
            from ConfigSpace import Integer
            from smashconfig import Algorithm


            class Plugin(Algorithm):
                name = "toyplugin"
                group = "plugins"

                def hyperparameters(self):
                    return [Integer("level", (1, 3), default=2)]

                def apply(self, model, targets, params):
                    pass
            """
        ),
        encoding="utf-8",
    )
    dist_info = tmp_path / "toy_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 0.1\n", encoding="utf-8")
    (dist_info / "entry_points.txt").write_text(
        "[smashconfig.algorithms]\ntoyplugin = toy_plugin_module:Plugin\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    registry = Registry()
    assert "toyplugin" in registry.algorithms()
    assert {"quanto", "lora"} <= set(registry.algorithms())
    assert registry.space()["toyplugin_level"].default_value == 2
    assert "toyplugin" not in default_registry().algorithms()


def test_missing_backend_names_the_extra_to_install(registered):
    class NeedsBackend(ToyPrune):
        name = "needsbackend"
        group = "backends"
        requires = ("smashconfig-test-package-that-is-not-installed",)
        extra = "needs"

    registered(NeedsBackend)
    algorithm = default_registry().get("needsbackend")
    with pytest.raises(MissingBackendError) as info:
        algorithm.check_backend()
    assert isinstance(info.value, ImportError)
    assert 'pip install "smashconfig[needs]"' in str(info.value)
    assert "smashconfig-test-package-that-is-not-installed" in str(info.value)


def test_built_in_backends_are_installed():
    for name in ("quanto", "lora"):
        default_registry().get(name).check_backend()
    assert default_registry().get("quanto").install_hint() == 'pip install "smashconfig[quanto]"'
    assert default_registry().get("lora").install_hint() == 'pip install "smashconfig[lora]"'


def test_registry_lists_built_ins_in_smash_order():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        names = list(Registry().algorithms())
    assert names.index("quanto") < names.index("lora")
