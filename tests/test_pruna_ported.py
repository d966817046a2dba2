"""pruna's own target-module tests (tests/config/test_target_modules.py), with their literal calls.

The models are built from configs: the tiny Flux has the shape of pruna's ``flux_tiny_random``
(so the counts are pruna's: 28 Linear layers in its transformer, 24 outside norms), and the
tiny Llama (2 layers) that of ``llama_3_tiny_random``. pruna counts the modules whose class is
quanto's ``QLinear`` across the model's ``nn.Module`` components; so do these tests.

One deliberate difference: pruna's tests reject ``{}`` and ``{"exclude": [...]}`` (no
``include``), while pruna's documentation, and DESIGN.md here, say a missing ``include`` means
``["*"]``. These two are accepted here, and the test says what they select.
"""

from __future__ import annotations

from typing import Any

import pytest

from smashconfig import SmashConfig, smash
from smashconfig.target_modules import TARGET_MODULES_TYPE
from smashconfig.target_modules.tree import components

import pipelines


def model_fixture(name: str) -> tuple:
    """pruna's ``model_fixture``: a model and an empty SmashConfig."""
    builders = {
        "flux_tiny_random": pipelines.tiny_flux_pipeline,
        "llama_3_tiny_random": lambda: pipelines.text_generation_pipeline().model,
        "llama_3_tiny_random_as_pipeline": pipelines.text_generation_pipeline,
    }
    return builders[name](), SmashConfig()


def get_nn_modules(model: Any) -> dict:
    return components(model)


@pytest.mark.parametrize(
    "model_name, algorithm_group, algorithm, target_modules, expected_number_of_targeted_modules",
    [
        ("flux_tiny_random", "quantizer", "quanto", None, 28),
        ("flux_tiny_random", "quantizer", "quanto", {"include": ["transformer*"]}, 28),
        ("flux_tiny_random", "quantizer", "quanto", {"include": ["transformer*"], "exclude": ["*norm*"]}, 24),
        ("llama_3_tiny_random", "quantizer", "quanto", None, 14),
        ("llama_3_tiny_random_as_pipeline", "quantizer", "quanto", {"include": ["model.*"], "exclude": ["*v_proj*"]}, 13),
    ],
)
def test_target_modules(
    model_name: str,
    algorithm_group: str,
    algorithm: str,
    target_modules: TARGET_MODULES_TYPE | None,
    expected_number_of_targeted_modules: int,
) -> None:
    model, smash_config = model_fixture(model_name)
    smash_config[algorithm_group] = algorithm
    smash_config[f"{algorithm}_target_modules"] = target_modules
    smashed_model = smash(model, smash_config)

    num_targeted_modules = sum(
        1
        for module in get_nn_modules(smashed_model).values()
        for submodule in module.modules()
        if submodule.__class__.__name__ == "QLinear"
    )
    assert num_targeted_modules == expected_number_of_targeted_modules


@pytest.mark.parametrize(
    "model_name, algorithm, target_modules, expected_number_of_targeted_modules",
    [
        ("flux_tiny_random", "quanto", None, 28),
        ("flux_tiny_random", "quanto", {"include": ["transformer*"], "exclude": ["*norm*"]}, 24),
        ("llama_3_tiny_random", "quanto", None, 14),
    ],
)
def test_target_modules_with_add(model_name, algorithm, target_modules, expected_number_of_targeted_modules) -> None:
    """The later form of pruna's test: ``smash_config.add(algorithm)`` then item assignment."""
    model, smash_config = model_fixture(model_name)
    smash_config.add(algorithm)
    smash_config[f"{algorithm}_target_modules"] = target_modules
    smashed_model = smash(model, smash_config)

    is_algorithm_applied = {"quanto": lambda module: module.__class__.__name__ == "QLinear"}
    num_targeted_modules = sum(
        1
        for module in get_nn_modules(smashed_model).values()
        for submodule in module.modules()
        if is_algorithm_applied[algorithm](submodule)
    )
    assert num_targeted_modules == expected_number_of_targeted_modules


@pytest.mark.parametrize(
    "target_modules",
    [
        {"include": ["test_pattern*", "other"]},
        {"include": ["this*"], "exclude": ["that"]},
    ],
)
def test_target_modules_format_accept(target_modules: dict[str, list[str]]):
    smash_config = SmashConfig()
    smash_config["quantizer"] = "quanto"
    smash_config["quanto_target_modules"] = target_modules
    assert smash_config["quanto_target_modules"] == target_modules


@pytest.mark.parametrize(
    "target_modules",
    [
        {"include": ["test_pattern*", "other"]},
        {"include": ["this*"], "exclude": ["that"]},
    ],
)
def test_target_modules_format_accept_with_add(target_modules: dict[str, list[str]]):
    smash_config = SmashConfig()
    smash_config.add("quanto")
    smash_config.add({"quanto_target_modules": target_modules})
    assert smash_config["quanto_target_modules"] == target_modules


REJECTED = [
    ({"include": []}, ValueError),
    (["transformer*"], TypeError),  # not a dict
    ({"what_are_the_keywords": ["transformer"]}, ValueError),  # keys should be "include" or "exclude"
    ({"include": ["transformer*"], "exclude": 1}, TypeError),  # "exclude" value is not a list
    ({"include": ["transformer*"], "exclude": [1, "transformer*"]}, TypeError),  # lists hold only strings
]


@pytest.mark.parametrize("target_modules, expected_error", REJECTED)
def test_target_modules_format_reject(target_modules: TARGET_MODULES_TYPE, expected_error: type):
    smash_config = SmashConfig()
    smash_config["quantizer"] = "quanto"
    with pytest.raises(expected_error):
        smash_config["quanto_target_modules"] = target_modules
    assert smash_config["quanto_target_modules"] is None


@pytest.mark.parametrize("target_modules, expected_error", REJECTED)
def test_target_modules_format_reject_with_add(target_modules: TARGET_MODULES_TYPE, expected_error: type):
    smash_config = SmashConfig()
    smash_config.add("quanto")
    with pytest.raises(expected_error):
        smash_config.add({"quanto_target_modules": target_modules})
    assert smash_config["quanto_target_modules"] is None


@pytest.mark.parametrize(
    "target_modules, expected_number_of_targeted_modules",
    [({}, 28 + 24 + 8), ({"exclude": ["skip", "*this_too*", "text_encoder*"]}, 28 + 8)],
)
def test_a_missing_include_means_every_module(target_modules, expected_number_of_targeted_modules):
    """pruna's tests reject these; its documentation, and DESIGN.md, say a missing include is ``["*"]``.

    On the tiny Flux that is the transformer's 28 Linear layers, the text encoders' 24 and the 8 of
    the VAE's attention blocks; with the text encoders excluded, 28 + 8.
    """
    model, smash_config = model_fixture("flux_tiny_random")
    smash_config.add("quanto")
    smash_config.add({"quanto_target_modules": target_modules})
    smashed_model = smash(model, smash_config)
    count = sum(
        1 for module in get_nn_modules(smashed_model).values() for sub in module.modules() if sub.__class__.__name__ == "QLinear"
    )
    assert count == expected_number_of_targeted_modules
