"""Search files: forms, checks with file:line, sampling; no model involved."""

from __future__ import annotations

import textwrap
from pathlib import Path

import optuna
import pytest

from smashconfig import SmashConfig
from smashconfig.contract.registry import default_registry
from smashconfig.errors import (
    ConfigFileNotFoundError,
    GroupConflictError,
    IllegalValueError,
    SmashConfigError,
    UnknownKeyError,
    WrongTypeError,
)
from smashconfig.tuning.dimensions import Choice, Fixed, Range
from smashconfig.tuning.objectives import choose_objectives
from smashconfig.tuning.search_file import load_search

REPO = Path(__file__).resolve().parent.parent
SEARCHES = sorted((REPO / "configs").glob("search-*.yaml"))
HAS_OVERRIDES = "quanto_overrides" in default_registry().keys()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "search.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def sample(space, n: int = 1, seed: int = 0):
    study = optuna.create_study(directions=["minimize"], sampler=optuna.samplers.RandomSampler(seed=seed))
    return [space.sample(study.ask()) for _ in range(n)]


def test_there_are_search_examples():
    assert len(SEARCHES) >= 2


@pytest.mark.parametrize("path", SEARCHES, ids=[p.name for p in SEARCHES])
def test_every_search_example_loads_and_samples_valid_configs(path):
    if "optional_overrides" in path.read_text() and not HAS_OVERRIDES:
        pytest.skip("per-module overrides (quanto_overrides) are not in SmashConfig yet")
    space = load_search(path)
    assert space.name == path.stem
    for config in sample(space, 5):
        assert isinstance(config, SmashConfig)
        assert SmashConfig.from_yaml(config.to_yaml()) == config


def test_lists_choose_ranges_search_within_scalars_stay(tmp_path):
    space = load_search(write(tmp_path, """
        quantizer: [quanto, null]
        quanto:
          weight_bits: [qint8, qfloat8]
          activation_bits: none
          target_modules:
            - {include: ["a.*"]}
            - {include: ["b.*"], exclude: ["*.x"]}
        lora:
          r: {low: 4, high: 64, log: true}
          alpha: {low: 8, high: 32, step: 8}
          dropout: 0.1
          target_modules: {include: ["*proj"]}
    """))
    quanto, lora = space.algorithms["quanto"].params, space.algorithms["lora"].params
    assert space.groups == {"quantizer": ("quanto", None), "adapter": ("lora",)}
    assert quanto["weight_bits"] == Choice(("qint8", "qfloat8"))
    assert quanto["activation_bits"] == Fixed("none")
    assert quanto["target_modules"] == Choice(({"include": ["a.*"]}, {"include": ["b.*"], "exclude": ["*.x"]}))
    assert lora["r"] == Range(4, 64, integer=True, log=True)
    assert lora["alpha"] == Range(8, 32, integer=True, step=8)
    assert lora["dropout"] == Fixed(0.1)
    assert lora["target_modules"] == Fixed({"include": ["*proj"]})
    assert space.size() == (1 + 2 * 2) * 61 * 4
    seen_r, seen_quantizer = set(), set()
    for config in sample(space, 40):
        seen_r.add(config["lora_r"])
        seen_quantizer.add(config["quantizer"])
        assert config["lora_alpha"] in (8, 16, 24, 32)
        assert config["lora_dropout"] == 0.1
        if config["quantizer"]:
            assert config["quanto_weight_bits"] in ("qint8", "qfloat8")
            assert config["quanto_target_modules"]["include"] in (["a.*"], ["b.*"])
    assert seen_quantizer == {"quanto", None}
    assert len(seen_r) > 5 and all(4 <= r <= 64 for r in seen_r)


def test_a_plain_config_is_a_search_with_one_point(repo_root):
    space = load_search(repo_root / "configs" / "qlora.yaml")
    assert space.size() == 1
    configs = sample(space, 3)
    assert all(c == SmashConfig.from_yaml(repo_root / "configs" / "qlora.yaml") for c in configs)
    assert load_search(SmashConfig({"quanto": {"weight_bits": "qint8"}})).size() == 1


def test_flat_keys_fold_into_their_algorithm():
    space = load_search({"quantizer": "quanto", "quanto_weight_bits": ["qint8", "qfloat8"]})
    assert space.algorithms["quanto"].params["weight_bits"] == Choice(("qint8", "qfloat8"))


def test_the_fingerprint_changes_with_the_search_and_not_with_spelling():
    a = load_search({"quanto": {"weight_bits": ["qint8", "qfloat8"]}})
    b = load_search({"quantizer": "quanto", "quanto_weight_bits": ["qint8", "qfloat8"]})
    c = load_search({"quanto": {"weight_bits": ["qint8"]}})
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


@pytest.mark.parametrize(
    "text, error, line, words",
    [
        ("quanto:\n  weight_bits: [qint8, qint9]\n", IllegalValueError, 2, ["quanto_weight_bits", "'qint9'", "qfloat8"]),
        ("quanto:\n  weight_bits: {low: 1, high: 2}\n", WrongTypeError, 2, ["range", "numbers only"]),
        ("lora:\n  r: {low: 0, high: 8}\n", IllegalValueError, 2, ["lora_r = 0", "1 to 1024"]),
        ("lora:\n  r: {low: 16, high: 8}\n", IllegalValueError, 2, ["low (16)", "high (8)"]),
        ("lora:\n  r: {low: 4, hi: 8}\n", IllegalValueError, 2, ["unknown key 'hi'"]),
        ("lora:\n  r: [4, 2000]\n", IllegalValueError, 2, ["lora_r = 2000"]),
        ("lora:\n  r: []\n", IllegalValueError, 2, ["nothing to choose"]),
        ("lora:\n  dropout: {low: 0.0, high: 0.5, log: true}\n", IllegalValueError, 2, ["log range", "above 0"]),
        ("objectives: [size, bogus]\nquanto:\n", IllegalValueError, 1, ["unknown objective 'bogus'", "cosine"]),
        ("quantizer: [quanto, lora]\n", IllegalValueError, 1, ["quantizer = 'lora'"]),
        ("qunto:\n  weight_bits: qint8\n", UnknownKeyError, 1, ["'qunto'", "Did you mean 'quanto'"]),
        ("quanto:\n  bits: [qint8]\n", UnknownKeyError, 2, ["'bits'", "weight_bits"]),
        ("quanto:\n  target_modules: [{include: []}]\n", SmashConfigError, 2, ["include"]),
        ("quantizer: null\n", IllegalValueError, None, ["names no algorithm"]),
    ],
)
def test_bad_searches_name_the_line_key_and_what_is_allowed(tmp_path, text, error, line, words):
    path = tmp_path / "search.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(error) as caught:
        load_search(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: " if line else str(path))
    for word in words:
        assert word in message
    assert "\n" not in message


def test_a_missing_search_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(ConfigFileNotFoundError):
        load_search(tmp_path / "nope.yaml")


def test_a_section_whose_algorithm_the_group_list_leaves_out_is_an_error():
    with pytest.raises(GroupConflictError, match="does not list it"):
        load_search({"quantizer": [None], "quanto": {"weight_bits": "qint8"}})
    with pytest.raises(IllegalValueError, match="quantizer = 'lora'"):
        load_search({"quantizer": ["lora"]})  # lora is an adapter, not a quantizer
    space = load_search({"quantizer": ["quanto", None], "quanto": {"weight_bits": "qint8"}})
    assert space.groups["quantizer"] == ("quanto", None)


@pytest.mark.skipif(HAS_OVERRIDES, reason="checks the message given while overrides are missing")
def test_optional_overrides_without_overrides_in_the_core_is_a_clear_error():
    with pytest.raises(IllegalValueError, match="no per-module overrides"):
        load_search({"quanto": {"optional_overrides": [{"include": ["*"], "weight_bits": "qint8"}]}})


@pytest.mark.skipif(not HAS_OVERRIDES, reason="per-module overrides (quanto_overrides) are not in SmashConfig yet")
def test_optional_overrides_are_switched_on_and_off_per_trial():
    rules = [{"include": ["model.layers.0.*"], "weight_bits": "qint8"}, {"include": ["*.self_attn.*"], "weight_bits": "qint8"}]
    space = load_search({"quanto": {"weight_bits": "qint4", "optional_overrides": rules}})
    assert space.size() == 4
    seen = set()
    for config in sample(space, 30):
        chosen = config["quanto_overrides"] or []
        assert all(rule in space.algorithms["quanto"].optional_overrides for rule in chosen)
        seen.add(len(chosen))
    assert seen == {0, 1, 2}
    with pytest.raises(SmashConfigError, match="qint9"):
        load_search({"quanto": {"optional_overrides": [{"include": ["*"], "weight_bits": "qint9"}]}})
    with pytest.raises(SmashConfigError, match="target_modules"):
        load_search({"quanto": {"optional_overrides": [{"include": ["*"], "target_modules": None}]}})


def test_fixed_overrides_are_one_value_not_a_choice():
    rules = [{"include": ["*.self_attn.*"], "weight_bits": "qint8"}]
    space = load_search({"quanto": {"weight_bits": "qint4", "overrides": rules}})
    assert space.size() == 1
    assert sample(space)[0]["quanto_overrides"] == SmashConfig({"quanto": {"overrides": rules}})["quanto_overrides"]


def test_objectives_default_per_model_kind_and_refuse_what_the_model_cannot_have():
    assert [o.name for o in choose_objectives(None, causal=False, latency=False)] == ["size", "cosine"]
    assert [o.name for o in choose_objectives(None, causal=True, latency=True)] == ["size", "kl", "latency"]
    with pytest.raises(IllegalValueError, match="causal language model"):
        choose_objectives(["size", "perplexity"], causal=False, latency=False)
    with pytest.raises(IllegalValueError, match="at least two"):
        choose_objectives(["size"], causal=False, latency=False)
