from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from smashconfig import SmashConfig, load_smashed, plan_smash, smash
from smashconfig.cli import models as demo_models
from smashconfig.cli import main

from smash_models import meta_like, quantized_paths, state_bytes

WEIGHTS = re.compile(r"^weights:\s+([\d.]+) MiB -> ([\d.]+) MiB \(([\d.]+)x smaller\)$", re.M)
COSINE = re.compile(r"cosine similarity per sample, (\d+) samples\): min ([\d.]+), mean ([\d.]+)")
TIME = re.compile(r"^time:\s+[\d.]+ s$", re.M)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def config_path(repo_root: Path, name: str) -> Path:
    return repo_root / "configs" / name


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


# ----- targets ----------------------------------------------------------------------------------------


def test_targets_prints_the_plan_without_applying_it(capsys, repo_root, recorded_models):
    code, out, err = run(capsys, "targets", config_path(repo_root, "qlora-llama.yaml"), "--model", "tiny-llama")

    assert code == 0
    demo = demo_models.tiny_llama()
    expected = plan_smash(demo.model, SmashConfig.from_yaml(config_path(repo_root, "qlora-llama.yaml")))
    assert out.strip() == str(expected).strip()
    assert "quanto (quantizer)" in out and "lora (adapter)" in out
    (shown,) = recorded_models
    assert not hasattr(shown.model, "smash_plan")
    assert quantized_paths(shown.model) == []
    assert not any("lora_" in name for name, _ in shown.model.named_parameters())
    assert [type(m) for m in shown.model.modules()] == [type(m) for m in demo.model.modules()]
    assert all(torch.equal(a, b) for a, b in zip(shown.model.state_dict().values(), demo.model.state_dict().values()))


def test_targets_json_is_the_plan(capsys, repo_root):
    code, out, _ = run(capsys, "targets", config_path(repo_root, "quanto-int8.yaml"), "--model", "tiny-llama", "--json")

    assert code == 0
    data = json.loads(out)
    demo = demo_models.tiny_llama()
    assert data == plan_smash(demo.model, SmashConfig.from_yaml(config_path(repo_root, "quanto-int8.yaml"))).to_dict()
    assert data["steps"][0]["inferred"] is True
    assert "lm_head" not in data["steps"][0]["acted"]


def test_targets_on_the_default_model_uses_minilm(capsys, repo_root):
    code, out, _ = run(capsys, "targets", config_path(repo_root, "lora-attention.yaml"), "--json")

    assert code == 0
    (step,) = json.loads(out)["steps"]
    assert json.loads(out)["model"] == "BertModel"
    assert len(step["acted"]) == 6 * 4
    assert all(re.fullmatch(r"encoder\.layer\.\d\.attention\.(self\.(query|key|value)|output\.dense)", p) for p in step["acted"])


# ----- smash ------------------------------------------------------------------------------------------


def test_smash_reports_plan_size_time_and_agreement_and_saves(capsys, tmp_path, repo_root):
    config = config_path(repo_root, "qlora-llama.yaml")
    output = tmp_path / "smashed"

    code, out, err = run(capsys, "smash", config, "--model", "tiny-llama", "--output", output)

    assert code == 0
    reference = demo_models.tiny_llama()
    cfg = SmashConfig.from_yaml(config)
    plan = plan_smash(reference.model, cfg)
    assert str(plan).strip() in out
    before_bytes = state_bytes(reference.model)
    unsmashed_output = reference.output(reference.model)
    smash(reference.model, cfg)
    after_bytes = state_bytes(reference.model)

    weights = WEIGHTS.search(out)
    assert weights, out
    assert weights.group(1) == f"{before_bytes / 2**20:.1f}"
    assert weights.group(2) == f"{after_bytes / 2**20:.1f}"
    assert float(weights.group(3)) == pytest.approx(before_bytes / after_bytes, abs=0.01)
    assert TIME.search(out)
    cosine = COSINE.search(out)
    assert cosine, out
    similarity = torch.nn.functional.cosine_similarity(
        unsmashed_output.flatten(1), reference.output(reference.model).flatten(1), dim=1
    )
    assert int(cosine.group(1)) == similarity.numel()
    assert float(cosine.group(2)) == pytest.approx(similarity.min().item(), abs=1e-5)
    assert float(cosine.group(2)) >= 0.99
    assert f"saved:   {output}" in out

    loaded = load_smashed(output, meta_like(demo_models.tiny_llama().model))
    assert torch.equal(reference.output(loaded), reference.output(reference.model))


def test_smash_without_output_saves_nothing(capsys, tmp_path, repo_root, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "smash", config_path(repo_root, "quanto-w8a8.yaml"), "--model", "tiny-llama")

    assert code == 0
    assert "needs calibration_data" in out
    assert "saved:" not in out
    assert list(tmp_path.iterdir()) == []
    assert float(COSINE.search(out).group(2)) >= 0.99


def test_demo_config_runs_end_to_end_on_the_default_model(capsys, tmp_path, repo_root):
    output = tmp_path / "minilm-int8"

    code, out, err = run(capsys, "smash", config_path(repo_root, "quanto-int8.yaml"), "--output", output)

    assert code == 0
    assert "SmashPlan for BertModel" in out
    assert "model:   minilm (all-MiniLM-L6-v2)" in out
    cosine = COSINE.search(out)
    assert int(cosine.group(1)) == len(demo_models.SENTENCES)
    assert float(cosine.group(2)) >= 0.999
    weights = WEIGHTS.search(out)
    assert float(weights.group(2)) < float(weights.group(1))

    demo = demo_models.minilm()
    loaded = load_smashed(output, meta_like(demo.model))
    expected = smash(demo.model, SmashConfig.from_yaml(config_path(repo_root, "quanto-int8.yaml")))
    assert torch.equal(demo.output(loaded), demo.output(expected))


def test_targets_against_a_saved_model(capsys, tmp_path, repo_root):
    output = tmp_path / "saved"
    assert run(capsys, "smash", config_path(repo_root, "quanto-int8.yaml"), "--model", "tiny-llama", "--output", output)[0] == 0

    code, out, _ = run(capsys, "targets", config_path(repo_root, "quanto-int8.yaml"), "--model", "tiny-llama", "--against", output)

    assert code == 0
    assert "resolves exactly" in out


# ----- mistakes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["smash", "targets"])
def test_an_unknown_model_is_one_line_and_exit_2(capsys, repo_root, command):
    code, out, err = run(capsys, command, config_path(repo_root, "quanto-int8.yaml"), "--model", "no-such-model")

    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("smashconfig: error:")
    assert "no-such-model" in lines[0]
    assert "minilm" in lines[0] and "tiny-llama" in lines[0]


def test_a_config_that_targets_nothing_is_one_line_and_exit_2(capsys, tmp_path):
    config = write_config(tmp_path, "quanto:\n  target_modules:\n    include: ['decoder.*']\n")

    code, out, err = run(capsys, "smash", config, "--model", "tiny-llama", "--output", tmp_path / "out")

    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.startswith("smashconfig: error:")]
    assert len(lines) == 1 and "decoder.*" in lines[0]
    assert not (tmp_path / "out").exists()


def test_a_missing_config_file_is_one_line_and_exit_2(capsys, tmp_path):
    code, out, err = run(capsys, "smash", tmp_path / "missing.yaml", "--model", "tiny-llama")

    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "missing.yaml" in err


def test_a_local_model_directory_can_be_smashed(capsys, tmp_path, repo_root):
    import models

    directory = tmp_path / "tiny-llama-dir"
    models.tiny_llama().save_pretrained(directory)

    code, out, err = run(capsys, "smash", config_path(repo_root, "qlora-llama.yaml"), "--model", directory, "--output", tmp_path / "out")

    assert code == 0, err
    assert "SmashPlan for LlamaForCausalLM" in out
    assert f"model:   {directory}" in out
    assert float(COSINE.search(out).group(2)) >= 0.99
    loaded = load_smashed(tmp_path / "out", meta_like(models.tiny_llama()))
    assert loaded.smash_plan.step("lora").params["r"] == 16


@pytest.mark.parametrize("command", ["smash", "targets"])
def test_a_model_directory_without_weights_is_one_line_and_exit_2(capsys, tmp_path, repo_root, command):
    import models

    directory = tmp_path / "config-only"
    models.tiny_llama().config.save_pretrained(directory)

    code, out, err = run(capsys, command, config_path(repo_root, "quanto-int8.yaml"), "--model", directory)

    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("smashconfig: error:") and str(directory) in lines[0]


def test_the_tiny_llama_leaves_the_global_random_state_alone(monkeypatch):
    device_seeds = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", device_seeds.append)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    device_seeds.clear()
    demo_models.tiny_llama()
    assert device_seeds == []
    assert torch.equal(torch.rand(3), expected)
    assert torch.equal(demo_models.tiny_llama().model.lm_head.weight, demo_models.tiny_llama().model.lm_head.weight)


@pytest.mark.parametrize("below", [False, True], ids=["the-file", "a-path-under-it"])
def test_an_output_path_that_is_a_file_is_refused_before_smashing(capsys, tmp_path, repo_root, recorded_models, below):
    taken = tmp_path / "taken"
    taken.write_text("mine", encoding="utf-8")
    output = taken / "sub" if below else taken

    code, out, err = run(capsys, "smash", config_path(repo_root, "quanto-int8.yaml"), "--model", "tiny-llama", "--output", output)

    assert code == 2
    assert out == "" and recorded_models == []
    (line,) = err.strip().splitlines()
    assert str(output) in line and "not a directory" in line
    assert taken.read_text(encoding="utf-8") == "mine"
