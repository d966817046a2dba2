from __future__ import annotations

import copy
import json
import warnings

import pytest
from torch import nn

from smashconfig.cli import models as demo_models
from smashconfig.cli import main
from smashconfig.errors import TargetModulesError, TargetPatternWarning
from smashconfig.contract.registry import default_registry
from smashconfig.target_modules import Explanation, TargetRecord, expand_list_of_targeted_paths, explain_targets

from explain_models import demo, llava, meta_llama, module_paths
from models import leaf_paths
from smash_models import assert_unchanged, capture

DOCUMENTED = {"include": ["model.layers.[01].*attn.*"], "exclude": ["*v_proj"]}
DOCUMENTED_PATHS = [
    f"model.layers.{i}.self_attn{leaf}" for i in (0, 1) for leaf in ("", ".q_proj", ".k_proj", ".o_proj")
]


def quiet_explain(*args, **kwargs) -> Explanation:
    with warnings.catch_warnings():
        warnings.simplefilter("error", TargetPatternWarning)
        return explain_targets(*args, **kwargs)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_config(tmp_path, text: str, name: str = "config.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ----- one record per module ---------------------------------------------------------------------------


def test_one_record_per_module_in_named_modules_order(smollm_meta):
    explanation = quiet_explain(DOCUMENTED, smollm_meta)

    assert isinstance(explanation, Explanation)
    assert all(isinstance(r, TargetRecord) for r in explanation)
    assert [r.path for r in explanation] == module_paths(smollm_meta)
    assert len(explanation) == len(module_paths(smollm_meta))
    modules = dict(smollm_meta.named_modules())
    assert all(r.type == type(modules[r.path]).__name__ for r in explanation)
    assert all(r.container == bool(modules[r.path]._modules) for r in explanation)


def test_documented_example_targets_eight_paths_with_their_rules(smollm_meta):
    explanation = quiet_explain(DOCUMENTED, smollm_meta)

    assert explanation.targeted == DOCUMENTED_PATHS
    q = explanation.record("model.layers.1.self_attn.q_proj")
    assert (q.targeted, q.pattern) == (True, "model.layers.[01].*attn.*")
    assert "model.layers.[01].*attn.*" in q.rule and "target" in q.rule
    v = explanation.record("model.layers.0.self_attn.v_proj")
    assert (v.targeted, v.pattern) == (False, "*v_proj")
    assert "*v_proj" in v.rule and "exclude" in v.rule
    mlp = explanation.record("model.layers.0.mlp.up_proj")
    assert (mlp.targeted, mlp.pattern) == (False, None)
    assert "no include" in mlp.rule
    far = explanation.record("model.layers.2.self_attn.q_proj")
    assert far.targeted is False and "no include" in far.rule


def test_targeted_paths_agree_with_expand_list_of_targeted_paths(smollm_meta):
    for target_modules in (DOCUMENTED, {"include": ["*mlp*"], "exclude": ["*up_proj", "model.layers.2?.*"]}):
        assert quiet_explain(target_modules, smollm_meta).targeted == expand_list_of_targeted_paths(
            target_modules, smollm_meta
        )


def test_the_first_matching_include_and_exclude_pattern_decide(tiny_llama):
    explanation = quiet_explain(
        {"include": ["*q_proj", "*proj"], "exclude": ["*.1.*k_proj", "*k_proj"]}, tiny_llama
    )

    assert explanation.record("model.layers.0.self_attn.q_proj").pattern == "*q_proj"
    assert explanation.record("model.layers.0.self_attn.o_proj").pattern == "*proj"
    assert explanation.record("model.layers.1.self_attn.k_proj").pattern == "*.1.*k_proj"
    assert explanation.record("model.layers.0.self_attn.k_proj").pattern == "*k_proj"
    assert "'*.1.*k_proj'" in explanation.record("model.layers.1.self_attn.k_proj").rule


def test_without_an_algorithm_nothing_is_said_about_acting(tiny_llama):
    explanation = quiet_explain({"include": ["model.layers.0.*"]}, tiny_llama)

    assert explanation.algorithm is None
    assert all(r.acts is None and r.reason is None for r in explanation)


# ----- with an algorithm: acts on it or skips it, and why ----------------------------------------------


def test_quanto_acts_on_linears_and_says_why_it_skips_the_rest(tiny_llama):
    explanation = quiet_explain({"include": ["model.layers.0.*"]}, tiny_llama, "quanto")

    assert explanation.algorithm == "quanto"
    acted = [r.path for r in explanation if r.acts]
    assert acted == leaf_paths(tiny_llama, nn.Linear, under="model.layers.0")
    norm = explanation.record("model.layers.0.input_layernorm")
    assert norm.targeted is True and norm.acts is False
    assert "LlamaRMSNorm" in norm.reason and "quanto" in norm.reason
    act_fn = explanation.record("model.layers.0.mlp.act_fn")
    assert act_fn.targeted is True and act_fn.acts is False and act_fn.reason
    container = explanation.record("model.layers.0.self_attn")
    assert container.targeted is True and container.acts is False and "container" in container.reason
    outside = explanation.record("model.layers.1.self_attn.q_proj")
    assert outside.targeted is False and outside.acts is False and "not targeted" in outside.reason


def test_the_algorithm_can_be_given_as_an_object(tiny_llama):
    by_name = quiet_explain({"include": ["model.layers.0.*"]}, tiny_llama, "lora")
    by_object = quiet_explain({"include": ["model.layers.0.*"]}, tiny_llama, default_registry().get("lora"))

    assert by_object.to_dict() == by_name.to_dict()


def test_lora_adapts_a_targeted_embedding_that_quanto_skips(tiny_llama):
    target_modules = {"include": ["model.*"]}
    lora = quiet_explain(target_modules, tiny_llama, "lora").record("model.embed_tokens")
    quanto = quiet_explain(target_modules, tiny_llama, "quanto").record("model.embed_tokens")

    assert lora.acts is True and lora.reason is None
    assert quanto.acts is False and "Embedding" in quanto.reason


def test_hyperparameters_change_what_quanto_acts_on(tiny_bert):
    target_modules = {"include": ["encoder.*"]}
    path = "encoder.layer.0.output.LayerNorm"

    weights_only = quiet_explain(target_modules, tiny_bert, "quanto").record(path)
    with_activations = quiet_explain(
        target_modules, tiny_bert, "quanto", params={"weight_bits": "qint8", "activation_bits": "qint8"}
    ).record(path)

    assert weights_only.acts is False and "activation_bits" in weights_only.reason
    assert with_activations.acts is True and with_activations.reason is None


# ----- defaults: the inference rule behind every module -------------------------------------------------


def test_defaults_name_the_inference_rule_behind_every_module(tiny_llama):
    explanation = quiet_explain(None, tiny_llama, "quanto")

    assert explanation.inferred is True
    assert explanation.target_modules["exclude"] == ["lm_head"]
    assert [r.path for r in explanation if r.acts] == leaf_paths(tiny_llama, nn.Linear, under="model")
    assert all(r.rule.startswith("default") for r in explanation)
    head = explanation.record("lm_head")
    assert head.targeted is False and "output head" in head.rule and "get_output_embeddings" in head.rule
    assert explanation.record("model.layers.0.mlp.down_proj").rule == "default: quanto targets Linear by default"
    assert "Embedding" in explanation.record("model.embed_tokens").rule
    assert "container" in explanation.record("model.layers.1").rule


def test_defaults_name_a_head_tied_to_the_input_embedding(tiny_llama_tied):
    head = quiet_explain(None, tiny_llama_tied, "lora").record("lm_head")

    assert head.targeted is False
    assert "tied" in head.rule and "model.embed_tokens" in head.rule


def test_defaults_on_a_pipeline_keep_to_the_denoiser(pipeline):
    explanation = quiet_explain(None, pipeline, "quanto")

    assert explanation.record("transformer.blocks.0.attn").acts is True
    encoder = explanation.record("text_encoder.fc")
    assert encoder.targeted is False and "denoiser" in encoder.rule
    assert "denoiser" in explanation.record("vae.encoder").rule


def test_defaults_without_an_algorithm_are_a_clear_error(tiny_llama):
    with pytest.raises(TargetModulesError) as caught:
        explain_targets(None, tiny_llama)
    assert "algorithm" in str(caught.value)


def test_explaining_changes_neither_the_model_nor_the_patterns(tiny_llama):
    target_modules = {"include": ["*attn*"], "exclude": ["*v_proj"]}
    written = copy.deepcopy(target_modules)
    before = capture(tiny_llama)

    quiet_explain(target_modules, tiny_llama, "quanto")

    assert target_modules == written
    assert_unchanged(tiny_llama, before)


def test_records_serialise_to_json(tiny_llama):
    explanation = quiet_explain({"include": ["*attn*"]}, tiny_llama, "quanto")

    data = json.loads(explanation.to_json())
    assert data["algorithm"] == "quanto"
    assert data["target_modules"] == {"include": ["*attn*"], "exclude": []}
    assert [r["path"] for r in data["records"]] == module_paths(tiny_llama)
    q = next(r for r in data["records"] if r["path"] == "model.layers.0.self_attn.q_proj")
    assert q == {
        "path": "model.layers.0.self_attn.q_proj",
        "type": "Linear",
        "container": False,
        "targeted": True,
        "rule": q["rule"],
        "pattern": "*attn*",
        "acts": True,
        "reason": None,
        "values": {"weight_bits": "qint8", "activation_bits": "none"},
        "set_by": None,
    }
    assert "*attn*" in q["rule"]


def test_a_multimodal_model_is_explained_per_component():
    model = llava()
    explanation = quiet_explain({"include": ["model.language_model.*"]}, model, "quanto")

    assert explanation.record("model.vision_tower.encoder.layers.0.self_attn.q_proj").targeted is False
    language = explanation.record("model.language_model.layers.1.mlp.up_proj")
    assert language.targeted is True and language.acts is True


# ----- the command line --------------------------------------------------------------------------------


def test_cli_explain_prints_the_folded_rules(capsys, tmp_path):
    config = write_config(tmp_path, "quanto:\n  target_modules:\n    include: ['*attn*']\n    exclude: ['*v_proj']\n")

    code, out, err = run(capsys, "targets", config, "--model", "tiny-llama", "--explain")

    assert code == 0, err
    lines = out.splitlines()
    assert "quanto_target_modules" in lines[0] and "*attn*" in lines[0]
    row = next(line for line in lines if "model.layers.[0-3].self_attn.{q,k,o}_proj" in line)
    assert "12" in row.split() and "*attn*" in row and "acts" in row
    assert any("model.layers.[0-3].self_attn.v_proj" in line and "*v_proj" in line for line in lines)
    assert len(lines) < 20


def test_cli_explain_json_gives_every_record(capsys, tmp_path):
    config = write_config(tmp_path, "quanto:\n  target_modules:\n    include: ['*attn*']\nlora: {}\n")
    model = demo_models.tiny_llama().model

    code, out, err = run(capsys, "targets", config, "--model", "tiny-llama", "--explain", "--json")

    assert code == 0, err
    data = json.loads(out)
    assert set(data) == {"quanto", "lora"}
    for name, explanation in data.items():
        assert explanation["algorithm"] == name
        assert [r["path"] for r in explanation["records"]] == module_paths(model)
    assert data["lora"]["inferred"] is True
    head = next(r for r in data["lora"]["records"] if r["path"] == "lm_head")
    assert head["targeted"] is False and "output head" in head["rule"]
    q = next(r for r in data["quanto"]["records"] if r["path"] == "model.layers.3.self_attn.q_proj")
    assert q["targeted"] is True and q["acts"] is True and q["pattern"] == "*attn*"


def test_cli_explain_works_on_any_model_it_is_given(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(demo_models, "load_model", lambda spec: demo(meta_llama(30)))
    config = write_config(
        tmp_path, "quanto:\n  target_modules:\n    include: ['model.layers.[01].*attn.*']\n    exclude: ['*v_proj']\n"
    )

    code, out, err = run(capsys, "targets", config, "--explain")

    assert code == 0, err
    assert "model.layers.[0-1].self_attn.{q,k,o}_proj" in out
    assert "warning" not in out


def test_asking_an_explanation_for_a_path_it_lacks_is_a_clear_key_error():
    from smashconfig.errors import UnknownPathError
    from smashconfig.target_modules import explain_targets

    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    explanation = explain_targets({"include": ["*"]}, model)
    with pytest.raises(UnknownPathError, match=r"has no module '00'.*Did you mean '0'") as caught:
        explanation.record("00")
    assert isinstance(caught.value, KeyError)
