"""tune on real models: the front, reproducing it from its YAML, resuming, failing trials, the model kept."""

from __future__ import annotations

import copy
from pathlib import Path

import optuna
import pytest
import torch

from smashconfig import SmashConfig, smash, tune
from smashconfig.cli import models as demo_models
from smashconfig.contract.registry import default_registry
from smashconfig.errors import IllegalValueError, NoTargetsError, PlanError, SmashConfigError
from smashconfig.tuning.errors import StorageError
from smashconfig.tuning.metrics import Reference, is_causal_lm, measure

REPO = Path(__file__).resolve().parent.parent
TRIALS = 12


@pytest.fixture(scope="module")
def minilm():
    return demo_models.minilm()


@pytest.fixture(scope="module")
def llama():
    return demo_models.tiny_llama()


def fingerprint(model):
    """What "unchanged" means: the same module objects at the same paths, equal tensors, no plan."""
    return (
        [(path, id(module)) for path, module in model.named_modules()],
        {k: v.clone() for k, v in model.state_dict().items()},
        [(n, p.requires_grad) for n, p in model.named_parameters()],
    )


def assert_unchanged(model, before):
    modules, state, grads = before
    assert [(path, id(module)) for path, module in model.named_modules()] == modules
    now = model.state_dict()
    assert now.keys() == state.keys()
    assert all(torch.equal(now[k], v) for k, v in state.items())
    assert [(n, p.requires_grad) for n, p in model.named_parameters()] == grads
    assert getattr(model, "smash_plan", None) is None


def dominates(a, b, objectives):
    at_least = all(not o.better(b.metrics[o.name], a.metrics[o.name]) for o in objectives)
    return at_least and any(o.better(a.metrics[o.name], b.metrics[o.name]) for o in objectives)


def check_front(result, demo, tmp_path):
    """At least two non-dominated points, each reproduced by smashing a copy of the model with its YAML."""
    front = result.front
    assert len(front) >= 2
    assert len({str(p.config) for p in front}) == len(front)
    completed = [t for t in result.trials if t.state == "complete"]
    for point in front:
        assert not any(dominates(other, point, result.objectives) for other in completed)
    written = result.write(tmp_path / "out")
    assert written["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    reference = Reference.of(demo.model, [demo.inputs], is_causal_lm(demo.model))
    for point in front:
        config = SmashConfig.from_yaml(tmp_path / "out" / f"trial-{point.number}.yaml")
        assert config == point.smash_config
        copy_of_model = copy.deepcopy(demo.model)
        smash(copy_of_model, config)
        again = measure(copy_of_model, reference)
        assert again["size"] == point.metrics["size"]
        for name in result.objectives:
            assert again[name.name] == pytest.approx(point.metrics[name.name], rel=1e-4, abs=1e-7)


def test_minilm_search_finds_a_front_that_its_yaml_reproduces(minilm, tmp_path):
    before = fingerprint(minilm.model)
    result = tune(
        minilm.model, REPO / "configs" / "search-minilm.yaml", trials=TRIALS, data=[minilm.inputs],
        storage=str(tmp_path / "study.db"),
    )
    assert_unchanged(minilm.model, before)
    assert [o.name for o in result.objectives] == ["size", "cosine"]
    assert len(result.trials) == TRIALS and result.ran == TRIALS
    assert all(t.state == "complete" for t in result.trials)
    assert result.baseline["cosine"] == pytest.approx(1.0)
    assert all(p.metrics["size"] < result.baseline["size"] for p in result.front)
    check_front(result, minilm, tmp_path)
    assert "unsmashed" in result.table() and "quanto(weight_bits=" in result.table()


def test_tiny_llama_search_finds_a_front_and_resumes_instead_of_starting_over(llama, tmp_path):
    before = fingerprint(llama.model)
    search = REPO / "configs" / "search-tiny-llama.yaml"
    storage = str(tmp_path / "study.db")
    result = tune(llama.model, search, trials=TRIALS, data=[llama.inputs], storage=storage)
    assert_unchanged(llama.model, before)
    assert [o.name for o in result.objectives] == ["size", "kl"]
    assert {"kl", "perplexity", "cosine"} <= set(result.front[0].metrics)
    check_front(result, llama, tmp_path)

    again = tune(llama.model, search, trials=TRIALS, data=[llama.inputs], storage=storage)
    assert again.ran == 0 and len(again.trials) == TRIALS
    assert [p.number for p in again.front] == [p.number for p in result.front]
    more = tune(llama.model, search, trials=TRIALS + 2, data=[llama.inputs], storage=storage)
    assert more.ran == 2 and len(more.trials) == TRIALS + 2
    assert [t.number for t in more.trials] == list(range(TRIALS + 2))
    assert_unchanged(llama.model, before)


def test_a_failing_trial_is_recorded_as_failed_and_the_search_goes_on(minilm, tmp_path):
    before = fingerprint(minilm.model)
    search = {  # quanto acts on none of the embeddings' modules: the plan of that trial fails
        "quanto": {"weight_bits": ["qint8", "qfloat8"], "target_modules": [{"include": ["encoder.*"]}, {"include": ["embeddings.*"]}]},
    }
    result = tune(minilm.model, search, trials=8, data=[minilm.inputs], storage=str(tmp_path / "s.db"), study="s")
    assert_unchanged(minilm.model, before)
    failed = [t for t in result.trials if t.state == "fail"]
    assert failed and len(failed) < len(result.trials)
    assert all("PlanError" in t.fail_reason and "act on no module" in t.fail_reason for t in failed)
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 's.db'}")
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.FAIL) == len(failed)
    assert states.count(optuna.trial.TrialState.COMPLETE) == 8 - len(failed)


def test_a_repeated_config_is_not_measured_again(llama, tmp_path):
    result = tune(llama.model, {"quanto": {"weight_bits": ["qint8", "qfloat8"]}}, trials=6, data=[llama.inputs],
                  storage=str(tmp_path / "s.db"))
    repeats = [t for t in result.trials if t.same_as is not None]
    assert repeats and len(result.trials) == 6
    by_number = {t.number: t for t in result.trials}
    assert all(t.metrics == by_number[t.same_as].metrics and t.config == by_number[t.same_as].config for t in repeats)


def test_no_algorithm_is_the_unsmashed_model_and_not_a_front_point(llama, tmp_path):
    search = {"quantizer": ["quanto", None], "quanto": {"weight_bits": "qint8"}}
    result = tune(llama.model, search, trials=5, data=[llama.inputs], storage=str(tmp_path / "s.db"), latency=True)
    assert [o.name for o in result.objectives] == ["size", "kl", "latency"]
    nothing = [t for t in result.trials if not t.config]
    assert nothing and all(t.state == "complete" and t.metrics["kl"] == 0 for t in nothing)
    assert result.front and all(p.config for p in result.front)
    assert all(p.metrics["latency"] > 0 for p in result.front)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(trials=0), IllegalValueError, "trials = 0"),
        (dict(trials="3"), SmashConfigError, "whole number"),
        (dict(search={"objectives": ["size", "perplexity"], "quanto": None}), IllegalValueError, "causal language model"),
        (dict(search={"quanto": {"target_modules": [{"include": ["nothing.here.*"]}]}}), NoTargetsError, "nothing.here"),
        (dict(storage="sqlite:////no/such/folder/s.db"), StorageError, "does not exist"),
        (dict(storage="nosuchdriver://user@host/db"), StorageError, "cannot be opened"),
        (dict(data=[]), IllegalValueError, "data is empty"),
    ],
)
def test_bad_input_is_refused_before_any_trial(minilm, tmp_path, monkeypatch, kwargs, error, words):
    monkeypatch.chdir(tmp_path)
    before = fingerprint(minilm.model)
    arguments = dict(search={"quanto": {"weight_bits": ["qint8", "qfloat8"]}}, trials=2, data=[minilm.inputs])
    arguments.update(kwargs)
    search = arguments.pop("search")
    with pytest.raises(error, match=words):
        tune(minilm.model, search, **arguments)
    assert_unchanged(minilm.model, before)
    assert not (tmp_path / "smashconfig-tune.db").exists()


def test_a_study_made_by_another_search_is_refused(llama, tmp_path):
    storage = str(tmp_path / "s.db")
    tune(llama.model, {"quanto": {"weight_bits": "qint8"}}, trials=1, data=[llama.inputs], storage=storage, study="x")
    with pytest.raises(StorageError, match="different search"):
        tune(llama.model, {"quanto": {"weight_bits": "qfloat8"}}, trials=1, data=[llama.inputs], storage=storage, study="x")


def test_a_smashed_model_is_refused(llama, tmp_path):
    model = copy.deepcopy(llama.model)
    smash(model, SmashConfig({"quanto": {"weight_bits": "qint8"}}))
    with pytest.raises(PlanError, match="smashed already"):
        tune(model, {"quanto": {"weight_bits": "qint8"}}, trials=1, storage=str(tmp_path / "s.db"))


@pytest.mark.skipif(
    "quanto_overrides" not in default_registry().keys(), reason="per-module overrides (quanto_overrides) are not in SmashConfig yet"
)
def test_optional_override_rules_find_mixed_precision(llama, tmp_path):
    rules = [{"include": ["model.layers.0.*"], "weight_bits": "qint8"}, {"include": ["*.mlp.*"], "weight_bits": "qint8"}]
    search = {"quanto": {"weight_bits": "qfloat8", "target_modules": {"include": ["model.layers.*"]}, "optional_overrides": rules}}
    before = fingerprint(llama.model)
    result = tune(llama.model, search, trials=8, data=[llama.inputs], storage=str(tmp_path / "s.db"))
    assert_unchanged(llama.model, before)
    measured = {len(t.config["quanto"]["overrides"]): t.metrics["kl"] for t in result.trials if t.same_as is None}
    assert len(measured) >= 2 and len(set(measured.values())) == len(measured)  # the rules change the outputs
    best = result.front[0]
    assert best.config["quanto"]["overrides"]
    assert SmashConfig.from_yaml(best.smash_config.to_yaml())["quanto_overrides"] == best.config["quanto"]["overrides"]
