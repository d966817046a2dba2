"""The command line on the directories people bring: transformers head models saved with
``save_pretrained`` (GPT-2, BERT, T5), a diffusers pipeline directory, a smashed directory; and its
habits (``-v`` anywhere, several files for ``validate``, only its own logger)."""

from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path

import pytest
import torch

from smashconfig import load_smashed
from smashconfig.cli import main
from smashconfig.cli import models as demo_models

import pipelines

COSINE = "output check vs unsmashed (cosine similarity per sample, 4 samples): min "


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def lora_config(tmp_path) -> Path:
    path = tmp_path / "lora.yaml"
    path.write_text("lora:\n  r: 4\n")
    return path


def gpt2_directory(tmp_path: Path) -> Path:
    directory = tmp_path / "gpt2"
    pipelines.tiny_gpt2().save_pretrained(directory)
    return directory


def saved(directory: Path, model_class, config) -> Path:
    torch.manual_seed(0)
    model_class(config).save_pretrained(directory)
    return directory


def bert_directory(tmp_path: Path) -> Path:
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
    return saved(tmp_path / "bert", BertForMaskedLM, config)


def t5_directory(tmp_path: Path) -> Path:
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config(vocab_size=100, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, decoder_start_token_id=0)
    return saved(tmp_path / "t5", T5ForConditionalGeneration, config)


def flux_directory(tmp_path: Path, tokenizers: bool = False) -> Path:
    directory = tmp_path / "flux"
    pipelines.tiny_flux_pipeline(tokenizers).save_pretrained(directory)
    return directory


def similarity(out: str) -> float:
    assert COSINE in out, out
    return float(out.split(COSINE, 1)[1].split(",", 1)[0])


# ----- transformers directories keep their heads ----------------------------------------------------


def test_a_gpt2_lm_head_directory_is_smashed_with_its_head_and_reloads(capsys, tmp_path, recorded_models, lora_config):
    from transformers import GPT2LMHeadModel

    directory, output = gpt2_directory(tmp_path), tmp_path / "smashed"
    code, out, err = run(capsys, "smash", lora_config, "--model", directory, "--output", output)

    assert code == 0, err
    (demo,) = recorded_models
    assert type(demo.model) is GPT2LMHeadModel
    assert "exclude [lm_head]" in out
    assert similarity(out) > 0.999
    reloaded = load_smashed(output, GPT2LMHeadModel.from_pretrained(directory))
    assert reloaded.smash_plan.to_dict() == demo.model.smash_plan.to_dict()


def test_a_bert_masked_lm_directory_keeps_its_prediction_head(capsys, tmp_path, recorded_models, repo_root):
    from transformers import BertForMaskedLM

    directory, output = bert_directory(tmp_path), tmp_path / "smashed"
    code, out, err = run(capsys, "smash", repo_root / "configs" / "quanto-int8.yaml", "--model", directory, "--output", output)

    assert code == 0, err
    (demo,) = recorded_models
    assert type(demo.model) is BertForMaskedLM
    step = demo.model.smash_plan.steps[0]
    assert "cls.predictions.decoder" not in step.acted
    assert any(p.startswith("bert.encoder.layer.") for p in step.acted)
    assert similarity(out) > 0.99
    reloaded = load_smashed(output, BertForMaskedLM.from_pretrained(directory))
    ids = demo.inputs["input_ids"]
    with torch.no_grad():
        assert torch.equal(reloaded(input_ids=ids).logits, demo.model(input_ids=ids).logits)


def test_a_t5_directory_smashes_and_its_outputs_are_checked(capsys, tmp_path, recorded_models, repo_root):
    from transformers import T5ForConditionalGeneration

    code, out, err = run(capsys, "smash", repo_root / "configs" / "quanto-int8.yaml", "--model", t5_directory(tmp_path))

    assert code == 0, err
    (demo,) = recorded_models
    assert type(demo.model) is T5ForConditionalGeneration
    assert "lm_head" not in demo.model.smash_plan.steps[0].acted
    assert similarity(out) > 0.99
    assert "Traceback" not in err


def test_a_model_the_check_cannot_run_is_reported_in_one_line(capsys, tmp_path, recorded_models, repo_root, monkeypatch):
    directory = bert_directory(tmp_path)
    real = demo_models.load_model

    def without_inputs(spec):
        demo = real(spec)
        demo.inputs = {"not_an_input": torch.zeros(1)}
        return demo

    monkeypatch.setattr(demo_models, "load_model", without_inputs)
    code, out, err = run(capsys, "smash", repo_root / "configs" / "quanto-int8.yaml", "--model", directory)

    assert code == 0, err
    (line,) = [line for line in out.splitlines() if line.startswith("output check")]
    assert line.startswith("output check skipped: running the model on sample inputs failed (ValueError: ")
    assert "Traceback" not in err


# ----- a diffusers pipeline directory ---------------------------------------------------------------


def test_the_tutorial_config_smashes_a_saved_diffusers_directory(capsys, tmp_path, recorded_models, repo_root):
    from diffusers import FluxPipeline

    directory, output = flux_directory(tmp_path), tmp_path / "smashed"
    config = repo_root / "configs" / "flux-transformer-int8.yaml"
    code, out, err = run(capsys, "smash", config, "--model", directory, "--output", output)

    assert code == 0, err
    (demo,) = recorded_models
    assert isinstance(demo.model, FluxPipeline)
    acted = demo.model.smash_plan.steps[0].acted
    assert len(acted) == 22 and all(p.startswith("transformer.") and "embed" not in p for p in acted)
    assert "output check skipped: the pipeline has no tokenizer or tokenizer_2" in out
    fresh = FluxPipeline.from_pretrained(directory, tokenizer=None, tokenizer_2=None)
    reloaded = load_smashed(output, fresh)
    assert reloaded.smash_plan.to_dict() == demo.model.smash_plan.to_dict()


def test_a_diffusers_directory_with_tokenizers_gets_its_outputs_checked(capsys, tmp_path, recorded_models, repo_root):
    config = repo_root / "configs" / "flux-transformer-int8.yaml"
    code, out, err = run(capsys, "smash", config, "--model", flux_directory(tmp_path, tokenizers=True))

    assert code == 0, err
    (demo,) = recorded_models
    assert demo.inputs["prompt"] and demo.inputs["num_inference_steps"] == 2 and demo.inputs["output_type"] == "pt"
    assert "output check vs unsmashed (cosine similarity per sample, 2 samples)" in out
    assert float(out.split("samples): min ", 1)[1].split(",", 1)[0]) > 0.99


def test_targets_on_a_diffusers_directory_uses_the_pipeline_defaults(capsys, tmp_path, repo_root):
    code, out, err = run(capsys, "targets", repo_root / "configs" / "quanto-int8.yaml", "--model", flux_directory(tmp_path), "--json")

    assert code == 0, err
    (step,) = json.loads(out)["steps"]
    assert json.loads(out)["model"] == "FluxPipeline"
    assert len(step["acted"]) == 28 and all(p.startswith("transformer.") for p in step["acted"])


def test_a_broken_pipeline_directory_is_one_line_and_exit_2(capsys, tmp_path, repo_root):
    directory = tmp_path / "broken"
    directory.mkdir()
    (directory / "model_index.json").write_text('{"_class_name": "FluxPipeline", "transformer": ["diffusers", "FluxTransformer2DModel"]}')
    code, out, err = run(capsys, "targets", repo_root / "configs" / "quanto-int8.yaml", "--model", directory)

    assert code == 2
    assert err.startswith("smashconfig: error: --model ") and err.count("\n") == 1


# ----- a directory written by smash --output --------------------------------------------------------


def takes_a_directory_alone() -> bool:
    parameters = inspect.signature(load_smashed).parameters.values()
    required = [p for p in parameters if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(required) <= 1


@pytest.mark.skipif(not takes_a_directory_alone(), reason="load_smashed(directory) needs the model in this version")
def test_a_smashed_directory_is_accepted_as_a_model(capsys, tmp_path, lora_config, repo_root):
    from transformers import GPT2LMHeadModel

    output = tmp_path / "smashed"
    assert run(capsys, "smash", lora_config, "--model", gpt2_directory(tmp_path), "--output", output)[0] == 0

    demo = demo_models.load_model(str(output))
    assert type(demo.model) is GPT2LMHeadModel
    assert [step.algorithm for step in demo.model.smash_plan.steps] == ["lora"]
    code, out, err = run(capsys, "smash", lora_config, "--model", output)
    assert code == 2 and "smashed already" in err and err.count("\n") == 1


def test_a_smashed_directory_never_crashes_the_command_line(capsys, tmp_path, lora_config):
    output = tmp_path / "smashed"
    assert run(capsys, "smash", lora_config, "--model", gpt2_directory(tmp_path), "--output", output)[0] == 0
    code, out, err = run(capsys, "targets", lora_config, "--model", output)
    assert code in (0, 2)
    assert "Traceback" not in err and err.count("\n") <= 1


# ----- habits -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_before_or_after_the_command_shows_debug_records(capsys, repo_root, where):
    config = repo_root / "configs" / "quanto-int8.yaml"
    argv = ["targets", config, "--model", "tiny-llama"]
    argv = ["-v", *argv] if where == "before" else [*argv, "-v"]
    code, out, err = run(capsys, *argv)

    assert code == 0
    assert "quanto: target_modules inferred {'include': ['model.layers.*.self_attn.q_proj'" in err
    assert "28 targeted, acts on 28 in 1 group(s)" in err
    assert "planned 1 step(s) on 58 modules in" in err
    assert all(line.startswith("DEBUG smashconfig") for line in err.splitlines())


def test_without_verbose_there_are_no_debug_records(capsys, repo_root):
    code, out, err = run(capsys, "targets", repo_root / "configs" / "quanto-int8.yaml", "--model", "tiny-llama")
    assert code == 0 and "DEBUG" not in err


def test_the_command_line_configures_only_its_own_logger(capsys, repo_root):
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    other = logging.getLogger("some.other.library")

    code, _, err = run(capsys, "-v", "validate", repo_root / "configs" / "quanto-int8.yaml")
    other.debug("a record the command line must not print")

    assert code == 0
    assert (list(root.handlers), root.level) == before
    assert "must not print" not in capsys.readouterr().err
    assert logging.getLogger("smashconfig").handlers == []


def test_validate_takes_several_files(capsys, repo_root):
    from test_yaml import EXAMPLES as examples  # the configs (search specs are not)

    code, out, err = run(capsys, "validate", *examples)

    assert code == 0 and err == ""
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("# ")] == [f"# {p}" for p in examples]


def test_validate_reports_each_bad_file_and_still_checks_the_others(capsys, tmp_path, repo_root):
    bad = tmp_path / "bad.yaml"
    bad.write_text("quanto:\n  weight_bits: qint3\n")
    good = repo_root / "configs" / "quanto-int8.yaml"
    code, out, err = run(capsys, "validate", bad, good)

    assert code == 2
    assert f"# {good}: valid" in out
    (line,) = err.splitlines()
    assert str(bad) in line and "qint3" in line
