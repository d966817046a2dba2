from __future__ import annotations

import json

import pytest
from torch import nn

from smashconfig import SmashConfig, SmashPlan, load_smashed, plan_smash, save_smashed, smash
from smashconfig.cli import models as demo_models
from smashconfig.cli import main
from smashconfig.errors import SavedModelError
from smashconfig.apply.saving import check_fits

import models
from explain_models import rename_module
from models import leaf_paths
from smash_models import assert_unchanged, capture, meta_llama

QUANTO = {"quanto": {"weight_bits": "qint8"}}
LAYER2 = leaf_paths(models.tiny_llama(num_hidden_layers=3), nn.Linear, under="model.layers.2")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A smashed two-layer tiny Llama saved to a directory."""
    directory = tmp_path_factory.mktemp("saved") / "llama"
    save_smashed(smash(models.tiny_llama(), QUANTO), directory)
    return directory


@pytest.fixture(scope="module")
def saved_demo(tmp_path_factory):
    """The built-in tiny-llama demo model, smashed and saved."""
    directory = tmp_path_factory.mktemp("saved") / "demo"
    save_smashed(smash(demo_models.tiny_llama().model, QUANTO), directory)
    return directory


# ----- plan.verify ------------------------------------------------------------------------------------


def test_the_same_architecture_verifies_clean(tiny_llama):
    plan = plan_smash(tiny_llama, QUANTO)

    diff = plan.verify(models.tiny_llama(seed=3))

    assert diff.ok
    assert diff
    assert all(step.same for step in diff.steps)
    assert "model.layers" not in str(diff)
    assert "LlamaForCausalLM" in str(diff)


def test_a_deeper_model_reports_the_paths_that_would_be_added(tiny_llama):
    plan = plan_smash(tiny_llama, QUANTO)

    diff = plan.verify(models.tiny_llama(num_hidden_layers=3))

    assert not diff.ok and not diff
    (step,) = diff.steps
    assert step.algorithm == "quanto"
    assert step.added == LAYER2 and step.acted_added == LAYER2
    assert step.lost == [] and step.acted_lost == []
    text = str(diff)
    assert "added" in text
    assert "model.layers.2.self_attn.{q,k,v,o}_proj" in text


def test_a_shallower_model_reports_the_paths_that_would_be_lost():
    plan = plan_smash(models.tiny_llama(num_hidden_layers=3), QUANTO)

    (step,) = plan.verify(models.tiny_llama()).steps

    assert step.lost == LAYER2 and step.added == []


def test_a_renamed_module_is_lost_and_its_new_name_added():
    plan = plan_smash(models.tiny_llama(), {"quanto": {"target_modules": {"include": ["model.layers.*"]}}})
    renamed = rename_module(models.tiny_llama(), "model.layers.0.self_attn.q_proj", "query")

    diff = plan.verify(renamed)

    (step,) = diff.steps
    assert step.lost == ["model.layers.0.self_attn.q_proj"]
    assert step.added == ["model.layers.0.self_attn.query"]
    assert "model.layers.0.self_attn.q_proj" in str(diff) and "model.layers.0.self_attn.query" in str(diff)


def test_a_module_the_algorithm_no_longer_acts_on_is_reported(tiny_llama):
    plan = plan_smash(tiny_llama, {"quanto": {"target_modules": {"include": ["model.layers.0.*"]}}})
    changed = models.tiny_llama()
    changed.model.layers[0].mlp.up_proj = nn.Identity()

    (step,) = plan.verify(changed).steps

    assert step.added == [] and step.lost == []
    assert step.acted_lost == ["model.layers.0.mlp.up_proj"]
    assert "model.layers.0.mlp.up_proj" in str(plan.verify(changed))


def test_every_step_is_checked_with_its_own_patterns(tiny_llama):
    config = {"quanto": {}, "lora": {"target_modules": {"include": ["*q_proj"]}}}
    plan = plan_smash(tiny_llama, config)

    diff = plan.verify(models.tiny_llama(num_hidden_layers=3))

    assert [s.algorithm for s in diff.steps] == ["quanto", "lora"]
    assert diff.steps[0].added == LAYER2
    assert diff.steps[1].added == ["model.layers.2.self_attn.q_proj"]


def test_a_plan_read_back_from_json_verifies_the_same(tiny_llama):
    plan = SmashPlan.from_json(plan_smash(tiny_llama, QUANTO).to_json())

    assert plan.verify(models.tiny_llama()).ok
    assert plan.verify(models.tiny_llama(num_hidden_layers=3)).to_dict()["ok"] is False


def test_verify_leaves_the_model_untouched(tiny_llama):
    plan = plan_smash(tiny_llama, QUANTO)
    other = models.tiny_llama(num_hidden_layers=3)
    before = capture(other)

    plan.verify(other)

    assert_unchanged(other, before)


def test_the_report_serialises_to_json(tiny_llama):
    diff = plan_smash(tiny_llama, QUANTO).verify(models.tiny_llama(num_hidden_layers=3))

    data = json.loads(json.dumps(diff.to_dict()))
    assert data["ok"] is False
    assert data["steps"][0]["added"] == LAYER2


# ----- load_smashed refuses a model that resolves differently --------------------------------------


def test_load_smashed_fits_the_same_architecture(saved):
    loaded = load_smashed(saved, meta_llama())

    assert type(loaded.model.layers[1].mlp.down_proj).__name__ == "QLinear"


@pytest.mark.parametrize(
    "build, paths, word",
    [
        (lambda: meta_llama(num_hidden_layers=3), ["model.layers.2.self_attn", "model.layers.2.mlp"], "added"),
        (
            lambda: rename_module(meta_llama(), "model.layers.1.mlp.up_proj", "fc_in"),
            ["model.layers.1.mlp.up_proj"],
            "lost",
        ),
    ],
    ids=["three-layers", "renamed-module"],
)
def test_load_smashed_refuses_a_model_that_resolves_differently(saved, build, paths, word):
    model = build()
    before = capture(model)

    with pytest.raises(SavedModelError) as caught:
        load_smashed(saved, model)

    text = str(caught.value)
    assert word in text
    for path in paths:
        assert path in text
    assert_unchanged(model, before)
    assert not hasattr(model, "smash_plan")


def test_check_fits_carries_the_verify_report(tiny_llama):
    plan = plan_smash(tiny_llama, QUANTO)
    deeper = meta_llama(num_hidden_layers=3)

    with pytest.raises(SavedModelError) as caught:
        check_fits(plan, deeper)

    assert str(plan.verify(deeper)) in str(caught.value)
    check_fits(plan, meta_llama())


# ----- smashconfig targets CONFIG --against PLAN ---------------------------------------------------------


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("quanto:\n  weight_bits: qint8\n", encoding="utf-8")
    return path


def write_plan(tmp_path, model) -> str:
    path = tmp_path / "plan.json"
    path.write_text(plan_smash(model, SmashConfig(QUANTO)).to_json(), encoding="utf-8")
    return path


def test_against_the_same_plan_exits_0(capsys, tmp_path, config_file):
    plan = write_plan(tmp_path, demo_models.tiny_llama().model)

    code, out, err = run(capsys, "targets", config_file, "--model", "tiny-llama", "--against", plan)

    assert code == 0, err
    assert "model.layers" not in out
    assert out.strip()


def test_against_a_different_plan_exits_1_and_shows_the_difference(capsys, tmp_path, config_file):
    plan = write_plan(tmp_path, models.tiny_llama())

    code, out, err = run(capsys, "targets", config_file, "--model", "tiny-llama", "--against", plan)

    assert code == 1, err
    assert "model.layers.[2-3].self_attn.{q,k,v,o}_proj" in out
    assert "model.layers.[2-3].mlp.{gate,up,down}_proj" in out
    assert "added" in out


def test_against_as_json(capsys, tmp_path, config_file):
    plan = write_plan(tmp_path, models.tiny_llama())

    code, out, err = run(capsys, "targets", config_file, "--model", "tiny-llama", "--against", plan, "--json")

    assert code == 1, err
    data = json.loads(out)
    assert data["ok"] is False
    (step,) = data["steps"]
    assert step["lost"] == []
    assert "model.layers.3.mlp.down_proj" in step["added"]
    assert len(step["added"]) == 14


def test_against_a_saved_model_directory(capsys, config_file, saved, saved_demo):
    same = run(capsys, "targets", config_file, "--model", "tiny-llama", "--against", saved_demo)
    different = run(capsys, "targets", config_file, "--model", "tiny-llama", "--against", saved)

    assert same[0] == 0, same[2]
    assert different[0] == 1, different[2]
    assert "model.layers.[2-3]" in different[1]


def test_against_a_missing_plan_is_one_line_and_exit_2(capsys, tmp_path, config_file):
    code, out, err = run(capsys, "targets", config_file, "--model", "tiny-llama", "--against", tmp_path / "nope.json")

    assert code == 2
    assert out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("smashconfig: error:") and "nope.json" in line


def test_against_reports_a_config_that_changed_since_the_plan(capsys, tmp_path):
    plan = write_plan(tmp_path, demo_models.tiny_llama().model)
    edited = tmp_path / "edited.yaml"
    edited.write_text(
        "quanto:\n  weight_bits: qint4\n  target_modules: {include: ['model.layers.*'], exclude: ['*mlp*']}\n"
        "lora: {r: 4}\n",
        encoding="utf-8",
    )

    code, out, err = run(capsys, "targets", edited, "--model", "tiny-llama", "--against", plan)

    assert code == 1, err
    assert "quanto: weight_bits is 'qint4'; the plan has 'qint8'" in out
    assert "lora: not in the plan; the config adds it" in out
    assert "quanto: 12 would no longer be acted on" in out
    assert "model.layers.[0-3].mlp.{gate,up,down}_proj" in out


def test_smash_given_a_plan_walks_the_model_no_more_often_than_given_the_config(monkeypatch):
    from smashconfig.target_modules import tree

    walks = []
    walk = tree._Walk.run
    monkeypatch.setattr(tree._Walk, "run", lambda self, *args: walks.append(1) or walk(self, *args))
    config = SmashConfig(["quanto"])
    plan = plan_smash(models.tiny_llama(), config)

    walks.clear()
    smash(models.tiny_llama(), config)
    by_config = len(walks)
    walks.clear()
    smash(models.tiny_llama(), plan)

    assert len(walks) == by_config  # the plan is verified on the index the snapshot is taken from
