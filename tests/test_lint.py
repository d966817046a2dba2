from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
from torch import nn

from smashconfig import SmashConfig, plan_smash, smash
from smashconfig.cli import models as demo_models
from smashconfig.cli import main
from smashconfig.errors import SmashConfigError, TargetPatternError, TargetPatternWarning
from smashconfig.target_modules import expand_list_of_targeted_paths, explain_targets
from smashconfig.target_modules.resolve import resolve

import models
from explain_models import demo, llama_without_v_proj, llava, meta_llama
from smash_models import assert_unchanged, capture


def tied_llama() -> nn.Module:
    return meta_llama(2, tie_word_embeddings=True)


@dataclass(frozen=True)
class Case:
    build: Callable[[], Any]
    target_modules: Optional[Dict[str, List[str]]]
    expected: Tuple[str, ...] = ()
    """Text one warning must hold: the offending pattern first, then what names the fix."""


MISTAKES = {
    "numbered-siblings-include": Case(
        meta_llama, {"include": ["model.layers.1*"]}, ("'model.layers.1*'", "model.layers.10", "'model.layers.1.*'")
    ),
    "numbered-siblings-exclude": Case(
        meta_llama,
        {"include": ["model.*"], "exclude": ["model.layers.1*"]},
        ("'model.layers.1*'", "exclude", "model.layers.10", "'model.layers.1.*'"),
    ),
    "container-exclude": Case(
        llava,
        {"include": ["model.*"], "exclude": ["model.vision_tower"]},
        ("'model.vision_tower'", "'model.vision_tower.*'"),
    ),
    "container-exclude-block": Case(
        meta_llama, {"include": ["model.*"], "exclude": ["model.layers.3"]}, ("'model.layers.3'", "'model.layers.3.*'")
    ),
    "container-include": Case(
        meta_llama,
        {"include": ["model.layers.0.*", "model.layers.3"]},
        ("'model.layers.3'", "'model.layers.3.*'"),
    ),
    "uneven-absent": Case(
        llama_without_v_proj, {"include": ["*proj"]}, ("self_attn.v_proj", "25 of 30", "model.layers.[25-29]", "'*proj'")
    ),
    "uneven-excluded": Case(
        meta_llama,
        {"include": ["*proj"], "exclude": ["model.layers.??.self_attn.v_proj"]},
        ("'model.layers.??.self_attn.v_proj'", "10 of 30", "model.layers.[10-29]"),
    ),
    "unmatched-include": Case(
        meta_llama, {"include": ["*q_proj", "*o_prj"]}, ("'*o_prj'", "model.layers.0.self_attn.o_proj")
    ),
    "unmatched-exclude": Case(
        meta_llama, {"include": ["model.*"], "exclude": ["*Q_PROJ"]}, ("'*Q_PROJ'", "case", "self_attn.q_proj")
    ),
    "output-head": Case(meta_llama, {"include": ["*"]}, ("'lm_head'", "output head", "exclude")),
    "tied-head": Case(tied_llama, {"include": ["*"]}, ("'lm_head'", "tied", "model.embed_tokens", "exclude")),
}

CORRECT = {
    "one-block": Case(meta_llama, {"include": ["model.layers.1.*"]}),
    "first-ten-blocks": Case(meta_llama, {"include": ["model.layers.[0-9].*"]}),
    "exclude-a-block": Case(meta_llama, {"include": ["model.*"], "exclude": ["model.layers.3.*"]}),
    "exclude-vision-tower": Case(llava, {"include": ["model.*"], "exclude": ["model.vision_tower.*"]}),
    "exclude-an-untargeted-container": Case(
        llava, {"include": ["model.language_model.*"], "exclude": ["model.vision_tower"]}
    ),
    "uniform-layers": Case(meta_llama, {"include": ["*proj"]}),
    "uniform-multimodal": Case(llava, {"include": ["*proj"]}),
    "documented-example": Case(models.smollm_meta, {"include": ["model.layers.[01].*attn.*"], "exclude": ["*v_proj"]}),
    "head-excluded": Case(tied_llama, {"include": ["*"], "exclude": ["lm_head"]}),
    "headless-model": Case(models.tiny_bert, {"include": ["*"]}),
    "no-numbered-siblings": Case(lambda: meta_llama(2), {"include": ["model.layers.1*"]}),
    "defaults": Case(meta_llama, None),
    "defaults-tied": Case(tied_llama, None),
    "defaults-multimodal": Case(llava, None),
    "defaults-uneven-model": Case(llama_without_v_proj, None),
}


def config(target_modules) -> Dict[str, Any]:
    return {"quanto": {} if target_modules is None else {"target_modules": target_modules}}


def via_explain(model, target_modules, strict=False):
    explain_targets(target_modules, model, "quanto", strict=strict)


def via_plan(model, target_modules, strict=False):
    plan_smash(model, config(target_modules), strict=strict)


def via_resolve(model, target_modules, strict=False):
    SmashConfig(config(target_modules)).resolve_target_modules(model, strict=strict)


ENTRIES = {"explain_targets": via_explain, "plan_smash": via_plan, "resolve_target_modules": via_resolve}


def warned(call) -> List[str]:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        call()
    return [str(w.message) for w in record if issubclass(w.category, TargetPatternWarning)]


def assert_one_holds(messages: List[str], expected: Tuple[str, ...]) -> None:
    naming = [m for m in messages if expected[0] in m]
    assert naming, f"no message names {expected[0]}: {messages}"
    assert any(all(piece in m for piece in expected) for m in naming), f"expected {expected} in one of {naming}"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cli_on(monkeypatch, tmp_path, case: Case):
    monkeypatch.setattr(demo_models, "load_model", lambda spec: demo(case.build()))
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config(case.target_modules)), encoding="utf-8")
    return path


# ----- each mistake warns, naming the pattern and the fix -------------------------------------------


@pytest.mark.parametrize("entry", list(ENTRIES))
@pytest.mark.parametrize("name", list(MISTAKES))
def test_mistake_warns_naming_the_pattern_and_the_fix(name, entry):
    case = MISTAKES[name]
    model = case.build()

    messages = warned(lambda: ENTRIES[entry](model, case.target_modules))

    assert_one_holds(messages, case.expected)


@pytest.mark.parametrize("entry", list(ENTRIES))
@pytest.mark.parametrize("name", list(MISTAKES))
def test_mistake_is_an_error_under_strict(name, entry):
    case = MISTAKES[name]
    model = case.build()

    with pytest.raises(TargetPatternError) as caught:
        ENTRIES[entry](model, case.target_modules, strict=True)

    assert_one_holds([str(caught.value)], case.expected)


@pytest.mark.parametrize("entry", list(ENTRIES))
@pytest.mark.parametrize("name", list(CORRECT))
def test_correct_patterns_stay_quiet(name, entry):
    case = CORRECT[name]
    model = case.build()

    assert warned(lambda: ENTRIES[entry](model, case.target_modules)) == []
    ENTRIES[entry](model, case.target_modules, strict=True)


def test_explanation_lists_the_warnings_it_raised():
    model = meta_llama()
    with pytest.warns(TargetPatternWarning) as record:
        explanation = explain_targets({"include": ["model.layers.1*"]}, model)

    assert explanation.warnings == [str(w.message) for w in record]
    assert "'model.layers.1.*'" in explanation.render()


def test_plan_keeps_the_warnings_in_its_step_and_its_table():
    model = meta_llama()
    with pytest.warns(TargetPatternWarning):
        plan = plan_smash(model, config({"include": ["model.layers.1*"]}))

    (message,) = plan.step("quanto").warnings
    assert "'model.layers.1.*'" in message
    assert message in str(plan)
    assert plan.to_dict()["steps"][0]["warnings"] == [message]


def test_strict_names_every_problem_in_one_error():
    with pytest.raises(TargetPatternError) as caught:
        explain_targets(
            {"include": ["model.layers.1*", "*nope_proj"], "exclude": ["model.layers.12"]},
            meta_llama(),
            "quanto",
            strict=True,
        )

    text = str(caught.value)
    for piece in ("'model.layers.1.*'", "'*nope_proj'", "'model.layers.12.*'"):
        assert piece in text
    assert isinstance(caught.value, SmashConfigError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize("build", [meta_llama, tied_llama])
def test_without_an_algorithm_the_head_among_the_layers_with_parameters_warns(build):
    messages = warned(lambda: explain_targets({"include": ["*"]}, build()))

    assert_one_holds(messages, ("'lm_head'", "output head", "exclude"))


def test_without_an_algorithm_a_head_of_no_parameters_is_not_warned_about():
    model = nn.Module()
    model.body = nn.Sequential(nn.Identity())
    model.lm_head = nn.Identity()

    assert [m for m in warned(lambda: explain_targets({"include": ["*"]}, model)) if "head" in m] == []


def test_resolution_warns_about_a_pattern_that_matched_nothing(tiny_llama):
    with pytest.warns(TargetPatternWarning) as record:
        paths = expand_list_of_targeted_paths({"include": ["*q_proj"], "exclude": ["*k_prj"]}, tiny_llama)

    assert paths == ["model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj"]
    assert_one_holds([str(w.message) for w in record], ("'*k_prj'", "k_proj"))


# ----- the suggested fix does what it says ----------------------------------------------------------


@pytest.mark.parametrize(
    "pattern", ["model.layers.1*", "model.layers.1*.mlp.*", "model.layers.1*mlp*", "*layers.1*.self_attn.v_proj"]
)
def test_the_numbered_sibling_fix_selects_only_the_named_block(pattern):
    model = meta_llama()
    messages = warned(lambda: explain_targets({"include": [pattern]}, model))
    (message,) = [m for m in messages if "numbered siblings" in m]
    fix = re.search(r"write '([^']+)'", message).group(1)

    wanted = [p for p in resolve({"include": [pattern]}, model).paths if p.split(".")[2] == "1"]
    assert wanted
    assert resolve({"include": [fix]}, model).paths == wanted, f"{fix!r} from: {message}"


def test_the_container_fix_selects_what_the_container_holds():
    model = meta_llama()
    target_modules = {"include": ["*"], "exclude": ["model.layers.3", "lm_head"]}
    (message,) = warned(lambda: explain_targets(target_modules, model, "quanto"))
    fix = re.search(r"write '([^']+)'", message).group(1)

    assert warned(lambda: explain_targets({"include": ["*"], "exclude": [fix, "lm_head"]}, model, "quanto")) == []
    paths = resolve({"include": ["*"], "exclude": [fix]}, model).paths
    assert not any(p == "model.layers.3" or p.startswith("model.layers.3.") for p in paths)


def test_a_plan_that_targets_only_a_container_says_how_to_target_its_layers():
    with pytest.raises(SmashConfigError) as caught:
        plan_smash(meta_llama(), config({"include": ["model.layers.3"]}))

    assert "'model.layers.3'" in str(caught.value)
    assert "model.layers.3.*" in str(caught.value)


# ----- smash: strict refuses before anything changes -----------------------------------------------


@pytest.mark.parametrize(
    "layers, target_modules, fix",
    [
        (12, {"include": ["model.layers.1*"]}, "'model.layers.1.*'"),
        (2, {"include": ["model.layers.0.*", "model.layers.1"]}, "'model.layers.1.*'"),
        (2, {"include": ["*"]}, "'lm_head'"),
    ],
)
def test_strict_smash_refuses_and_leaves_the_model_untouched(layers, target_modules, fix):
    model = models.tiny_llama(num_hidden_layers=layers)
    before = capture(model)

    with pytest.raises(TargetPatternError) as caught:
        smash(model, config(target_modules), strict=True)

    assert fix in str(caught.value)
    assert_unchanged(model, before)
    assert not hasattr(model, "smash_plan")


def test_smash_without_strict_warns_and_applies(tiny_llama):
    with pytest.warns(TargetPatternWarning) as record:
        smash(tiny_llama, config({"include": ["model.layers.0.*", "model.layers.1"]}))

    assert_one_holds([str(w.message) for w in record], ("'model.layers.1'", "'model.layers.1.*'"))
    assert "'model.layers.1.*'" in tiny_llama.smash_plan.step("quanto").warnings[0]
    assert type(tiny_llama.model.layers[0].self_attn.q_proj).__name__ == "QLinear"
    assert type(tiny_llama.model.layers[1].self_attn.q_proj) is nn.Linear


# ----- the command line ------------------------------------------------------------------------------

CONTAINER_CONFIG = "quanto:\n  target_modules:\n    include: ['model.layers.0.*', 'model.layers.1']\n"


@pytest.mark.parametrize("explain", [False, True], ids=["plan", "explain"])
@pytest.mark.parametrize("name", list(MISTAKES))
def test_cli_prints_each_warning(capsys, monkeypatch, tmp_path, name, explain):
    case = MISTAKES[name]
    path = cli_on(monkeypatch, tmp_path, case)

    code, out, err = run(capsys, "targets", path, *(["--explain"] if explain else []))

    assert code == 0, err
    assert_one_holds([line for line in out.splitlines() if "warning:" in line], case.expected)


@pytest.mark.parametrize("explain", [False, True], ids=["plan", "explain"])
@pytest.mark.parametrize("name", list(MISTAKES))
def test_cli_strict_refuses_in_one_line(capsys, monkeypatch, tmp_path, name, explain):
    case = MISTAKES[name]
    path = cli_on(monkeypatch, tmp_path, case)

    code, out, err = run(capsys, "targets", path, "--strict", *(["--explain"] if explain else []))

    assert code == 2
    assert out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("smashconfig: error:")
    assert_one_holds([line], case.expected)


@pytest.mark.parametrize("name", ["documented-example", "one-block", "exclude-vision-tower", "defaults"])
def test_cli_strict_accepts_correct_patterns(capsys, monkeypatch, tmp_path, name):
    path = cli_on(monkeypatch, tmp_path, CORRECT[name])

    for extra in ([], ["--explain"]):
        code, out, err = run(capsys, "targets", path, "--strict", *extra)
        assert code == 0, err
        assert "warning" not in out


def test_cli_smash_strict_refuses_before_saving(capsys, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(CONTAINER_CONFIG, encoding="utf-8")

    code, out, err = run(capsys, "smash", path, "--model", "tiny-llama", "--strict", "--output", tmp_path / "out")

    assert code == 2
    assert "'model.layers.1.*'" in err
    assert not (tmp_path / "out").exists()


def test_cli_smash_prints_the_warning(capsys, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(CONTAINER_CONFIG, encoding="utf-8")

    code, out, err = run(capsys, "smash", path, "--model", "tiny-llama")

    assert code == 0, err
    assert any("warning:" in line and "'model.layers.1.*'" in line for line in (out + err).splitlines())
