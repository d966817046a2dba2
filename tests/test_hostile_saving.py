"""Hostile inputs to save_smashed, load_smashed and `smash --output`.

Every case asserts the error type (a SmashConfigError that is also the matching builtin), that
the message names the file, key or directory at fault, and that nothing changed: the model's
tensors and modules, and the files on disk (contents and modification times). Cases that could
hang run under an alarm.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path
from typing import Any, Callable, Dict

import pytest
import torch

from smashconfig import load_smashed, save_smashed, smash
from smashconfig.errors import ModelTypeError, SavedModelError, SavedModelFileError, SmashConfigError, WrongTypeError

import models
from smash_models import Calls, assert_unchanged, capture, llama_logits, meta_llama, randomize_adapters

QLORA = {"quanto": {"weight_bits": "qint8"}, "lora": {"r": 4, "alpha": 8}}
SAVED_FILES = ("model.safetensors", "plan.json", "config.yaml", "smashconfig.json")


# ----- fixtures and helpers ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def time_limit():
    """Fail a case that runs for more than 60 s instead of hanging the suite."""

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError("hostile case ran for more than 60 s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hostile") / "smashed"
    model = smash(models.tiny_llama(), QLORA)
    randomize_adapters(model)
    save_smashed(model, directory)
    return directory, model


@pytest.fixture
def copy(saved, tmp_path) -> Path:
    target = tmp_path / "copy"
    target.mkdir()
    for file in saved[0].iterdir():
        (target / file.name).write_bytes(file.read_bytes())
    return target


@pytest.fixture
def quantize_calls(monkeypatch):
    import optimum.quanto

    calls = Calls(optimum.quanto.quantize_module)
    monkeypatch.setattr(optimum.quanto, "quantize_module", calls)
    return calls


def disk(root: Path) -> Dict[str, Any]:
    """Every entry under ``root`` (links not followed): its kind, content hash and modification time."""
    out: Dict[str, Any] = {}
    if not os.path.lexists(root):
        return out
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            info = path.lstat()
            if path.is_symlink():
                out[str(path.relative_to(root))] = ("link", os.readlink(path))
            elif path.is_file():
                out[str(path.relative_to(root))] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(), info.st_mtime_ns)
            else:
                out[str(path.relative_to(root))] = ("dir",)
    return out


def rehash(directory: Path) -> None:
    """Recompute every checksum of the manifest, as someone editing a save on purpose would."""
    manifest = json.loads((directory / "smashconfig.json").read_text())
    for name in ("model.safetensors", "plan.json", "config.yaml"):
        manifest["files"][name] = hashlib.sha256((directory / name).read_bytes()).hexdigest()
    write_manifest(directory, manifest)


def write_manifest(directory: Path, manifest: Dict[str, Any]) -> None:
    manifest.pop("manifest_sha256", None)
    manifest["manifest_sha256"] = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
    (directory / "smashconfig.json").write_text(json.dumps(manifest))


def edit_plan(directory: Path, change: Callable[[Dict[str, Any]], None]) -> None:
    plan = json.loads((directory / "plan.json").read_text())
    change(plan)
    (directory / "plan.json").write_text(json.dumps(plan))
    rehash(directory)


def step_of(plan: Dict[str, Any], algorithm: str) -> Dict[str, Any]:
    return next(step for step in plan["steps"] if step["algorithm"] == algorithm)


def edit_weights(directory: Path, change: Callable[[Dict[str, torch.Tensor]], None]) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(directory / "model.safetensors"))
    change(tensors)
    save_file(tensors, str(directory / "model.safetensors"))
    rehash(directory)


def refused_load(directory: Path, error_type: type, *names: str, model: Any = None) -> BaseException:
    """load_smashed refuses with ``error_type`` naming ``names``; the model and the files stay as they were."""
    model = meta_llama() if model is None else model
    before, files, plan = capture(model), disk(directory), getattr(model, "smash_plan", None)
    with pytest.raises(error_type) as caught:
        load_smashed(directory, model)
    assert isinstance(caught.value, SmashConfigError)
    for name in names:
        assert name in str(caught.value), (name, str(caught.value))
    assert_unchanged(model, before)
    assert getattr(model, "smash_plan", None) is plan
    assert disk(directory) == files
    return caught.value


def refused_save(model: Any, directory: Any, error_type: type, *names: str, watch: Path, **kwargs: Any) -> BaseException:
    """save_smashed refuses with ``error_type`` naming ``names``; the model and everything under ``watch`` stay."""
    before, files = capture(model), disk(watch)
    with pytest.raises(error_type) as caught:
        save_smashed(model, directory, **kwargs)
    assert isinstance(caught.value, SmashConfigError)
    for name in names:
        assert name in str(caught.value), (name, str(caught.value))
    assert_unchanged(model, before)
    assert disk(watch) == files
    return caught.value


def leftovers(folder: Path) -> list:
    return [p.name for p in folder.iterdir() if p.name.endswith(".partial") or "probe" in p.name]


# ----- saving: where a save may go ---------------------------------------------------------------------


def test_a_directory_holding_other_files_is_refused_without_overwrite(saved, tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    error = refused_save(saved[1], target, SavedModelFileError, str(target), "overwrite=True", watch=tmp_path)
    assert isinstance(error, OSError)


def test_an_earlier_save_is_not_overwritten_without_overwrite(saved, copy):
    refused_save(saved[1], copy, SavedModelFileError, str(copy), "smashconfig.json", watch=copy)


def test_overwrite_replaces_an_earlier_save_and_keeps_other_files(saved, copy):
    (copy / "README.md").write_text("kept")
    save_smashed(saved[1], copy, overwrite=True)
    assert (copy / "README.md").read_text() == "kept"
    assert torch.equal(llama_logits(load_smashed(copy, meta_llama())), llama_logits(saved[1]))
    assert leftovers(copy.parent) == []


def test_a_symlinked_target_directory_is_refused(saved, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    refused_save(saved[1], tmp_path / "link", SavedModelFileError, "symbolic link", "link", watch=tmp_path)


def test_a_symlink_inside_the_target_is_replaced_never_followed(saved, copy, tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text("precious: true\n")
    (copy / "config.yaml").unlink()
    (copy / "config.yaml").symlink_to(outside)
    refused_save(saved[1], copy, SavedModelFileError, "overwrite", watch=tmp_path)

    save_smashed(saved[1], copy, overwrite=True)

    assert outside.read_text() == "precious: true\n"
    assert not (copy / "config.yaml").is_symlink()
    assert load_smashed(copy, meta_llama()).smash_plan.to_dict() == saved[1].smash_plan.to_dict()


def test_the_directory_a_transformers_model_was_loaded_from_is_refused(tmp_path):
    from transformers import LlamaForCausalLM

    source = tmp_path / "ckpt"
    models.tiny_llama().save_pretrained(source)
    model = smash(LlamaForCausalLM.from_pretrained(source).eval(), {"quanto": {}})
    refused_save(model, source, SavedModelFileError, str(source), "loaded from", watch=tmp_path, overwrite=True)


def test_the_source_directory_is_refused_under_another_spelling(tmp_path):
    from transformers import LlamaForCausalLM

    source = tmp_path / "ckpt"
    models.tiny_llama().save_pretrained(source)
    (tmp_path / "alias").symlink_to(source, target_is_directory=True)
    model = smash(LlamaForCausalLM.from_pretrained(tmp_path / "alias").eval(), {"quanto": {}})
    refused_save(model, str(source) + "/.", SavedModelFileError, "loaded from", watch=tmp_path, overwrite=True)


def test_the_directory_a_pipeline_was_loaded_from_is_refused(tmp_path):
    from diffusers_models import tiny_flux

    source = tmp_path / "pipeline"
    source.mkdir()
    (source / "model_index.json").write_text("{}")
    pipe = tiny_flux()
    pipe.register_to_config(_name_or_path=str(source))  # what from_pretrained records
    smash(pipe, {"quanto": {"target_modules": {"include": ["transformer.*"]}}})
    refused_save(pipe, source, SavedModelFileError, "loaded from", watch=tmp_path, overwrite=True)


def test_the_directory_a_smashed_model_was_loaded_from_is_refused(copy):
    model = load_smashed(copy, meta_llama())
    refused_save(model, copy, SavedModelFileError, "loaded from", watch=copy.parent, overwrite=True)


def test_a_path_under_a_file_is_refused(saved, tmp_path):
    (tmp_path / "file").write_text("x")
    refused_save(saved[1], tmp_path / "file" / "out", SavedModelFileError, "file", "not a directory", watch=tmp_path)


@pytest.mark.parametrize("bad", ["", "   "])
def test_an_empty_directory_name_is_refused(saved, tmp_path, bad):
    refused_save(saved[1], bad, SavedModelFileError, "directory", watch=tmp_path)


@pytest.mark.parametrize("bad", [None, 5, b"out"])
def test_a_directory_that_is_not_a_path_is_refused(saved, tmp_path, bad):
    error = refused_save(saved[1], bad, WrongTypeError, "directory", watch=tmp_path)
    assert isinstance(error, TypeError)


def test_an_over_long_path_is_refused(saved, tmp_path):
    error = refused_save(saved[1], tmp_path / ("x" * 300), SavedModelFileError, "cannot save", watch=tmp_path)
    assert isinstance(error, OSError)


def test_an_unwritable_place_is_refused_before_anything_is_written(saved, tmp_path):
    target = Path("/sys/smashconfig-hostile/out")
    refused_save(saved[1], target, SavedModelFileError, str(target), watch=tmp_path)
    assert not os.path.lexists("/sys/smashconfig-hostile")


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not bind root")
def test_a_read_only_parent_is_refused(saved, tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        refused_save(saved[1], parent / "out", SavedModelFileError, "out", watch=tmp_path)
    finally:
        parent.chmod(0o700)


def test_a_failing_write_leaves_nothing_behind(saved, tmp_path, monkeypatch):
    import safetensors.torch

    def half_written(tensors, filename, *args, **kwargs):
        Path(filename).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", half_written)
    error = refused_save(saved[1], tmp_path / "new", SavedModelFileError, "No space left", watch=tmp_path)
    assert "nothing was written" in str(error)
    assert not (tmp_path / "new").exists() and leftovers(tmp_path) == []


def test_a_failing_overwrite_leaves_the_earlier_save_whole(saved, copy, monkeypatch):
    import safetensors.torch

    def failing(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(safetensors.torch, "save_file", failing)
    refused_save(saved[1], copy, SavedModelFileError, "Input/output error", watch=copy.parent, overwrite=True)
    assert load_smashed(copy, meta_llama()) is not None


def test_a_saved_name_taken_by_a_directory_is_refused(saved, copy):
    (copy / "plan.json").unlink()
    (copy / "plan.json").mkdir()
    refused_save(saved[1], copy, SavedModelFileError, "plan.json", watch=copy.parent, overwrite=True)


def test_a_smash_plan_that_is_not_a_plan_is_refused(tmp_path):
    model = models.tiny_llama()
    model.smash_plan = "quanto"
    refused_save(model, tmp_path / "out", SavedModelError, "smash_plan", watch=tmp_path)


# ----- loading: arguments and files ----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, 3.5, ["dir"]])
def test_a_directory_argument_that_is_not_a_path_is_refused(bad, tmp_path):
    model = meta_llama()
    before = capture(model)
    with pytest.raises(WrongTypeError, match="directory") as caught:
        load_smashed(bad, model)
    assert isinstance(caught.value, TypeError)
    assert_unchanged(model, before)


def test_a_model_argument_that_is_not_a_model_is_refused(saved):
    files = disk(saved[0])
    with pytest.raises(ModelTypeError, match="int"):
        load_smashed(saved[0], 5)
    assert disk(saved[0]) == files


def test_an_over_long_directory_is_refused(tmp_path):
    error = refused_load(tmp_path / ("y" * 300), SavedModelFileError, "y" * 50)
    assert isinstance(error, OSError)


def test_a_missing_directory_is_a_file_error(tmp_path):
    error = refused_load(tmp_path / "nowhere", SavedModelFileError, "nowhere")
    assert isinstance(error, OSError)


def test_a_file_that_is_a_directory_is_refused(copy):
    (copy / "plan.json").unlink()
    (copy / "plan.json").mkdir()
    refused_load(copy, SavedModelFileError, "plan.json")


def test_a_weights_file_linked_to_dev_zero_is_refused_without_reading(copy):
    (copy / "model.safetensors").unlink()
    (copy / "model.safetensors").symlink_to("/dev/zero")
    refused_load(copy, SavedModelFileError, "model.safetensors")


def test_a_fifo_in_place_of_the_plan_does_not_hang(copy):
    (copy / "plan.json").unlink()
    os.mkfifo(copy / "plan.json")
    refused_load(copy, SavedModelFileError, "plan.json")


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not bind root")
def test_an_unreadable_file_is_refused(copy):
    (copy / "config.yaml").chmod(0)
    try:
        refused_load(copy, SavedModelFileError, "config.yaml")
    finally:
        (copy / "config.yaml").chmod(0o600)


# ----- loading: the manifest -------------------------------------------------------------------------------


def test_a_manifest_that_is_a_json_list_is_refused(copy):
    (copy / "smashconfig.json").write_text("[1, 2, 3]")
    refused_load(copy, SavedModelError, "smashconfig.json", "list")


def test_a_manifest_that_is_not_json_is_refused(copy):
    (copy / "smashconfig.json").write_text("{not json")
    refused_load(copy, SavedModelError, "smashconfig.json")


def test_a_deeply_nested_manifest_is_refused_without_recursion_error(copy):
    (copy / "smashconfig.json").write_text("[" * 50_000 + "]" * 50_000)
    refused_load(copy, SavedModelError, "smashconfig.json")


def test_a_manifest_field_of_the_wrong_type_is_refused_even_with_its_checksum(copy):
    manifest = json.loads((copy / "smashconfig.json").read_text())
    manifest["aliases"] = ["lm_head.weight"]
    write_manifest(copy, manifest)
    refused_load(copy, SavedModelError, "aliases")


def test_an_alias_to_a_missing_tensor_is_refused(copy):
    manifest = json.loads((copy / "smashconfig.json").read_text())
    manifest["aliases"] = {"lm_head.weight": "no.such.tensor"}
    write_manifest(copy, manifest)
    refused_load(copy, SavedModelError, "lm_head.weight")


def test_an_alias_between_tensors_of_other_shapes_is_refused(copy):
    manifest = json.loads((copy / "smashconfig.json").read_text())
    manifest["aliases"] = {"model.norm.weight": "model.embed_tokens.weight"}
    write_manifest(copy, manifest)
    refused_load(copy, SavedModelError, "model.norm.weight")


def test_weights_changed_without_updating_the_manifest_are_refused(copy, quantize_calls):
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(data))
    refused_load(copy, SavedModelError, "model.safetensors", "checksum")
    assert quantize_calls.count == 0


# ----- loading: a corrupt safetensors file with recomputed checksums -------------------------------------


def _header_and_data(directory: Path):
    raw = (directory / "model.safetensors").read_bytes()
    length = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + length]), raw[8 + length :]


def _write_weights(directory: Path, header: Dict[str, Any], data: bytes) -> None:
    text = json.dumps(header).encode()
    (directory / "model.safetensors").write_bytes(len(text).to_bytes(8, "little") + text + data)
    rehash(directory)


def test_a_garbage_header_is_refused_without_a_safetensors_error(copy):
    (copy / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00" + b"\xff" * 40)
    rehash(copy)
    error = refused_load(copy, SavedModelError, "model.safetensors")
    assert type(error).__module__.startswith("smashconfig")


def test_a_header_claiming_a_huge_length_is_refused_before_reading(copy):
    (copy / "model.safetensors").write_bytes((2**62).to_bytes(8, "little") + b"{}")
    rehash(copy)
    refused_load(copy, SavedModelError, "model.safetensors", "header")


def test_overlapping_tensor_offsets_are_refused(copy):
    header, data = _header_and_data(copy)
    name = next(k for k in header if k != "__metadata__" and header[k]["data_offsets"][0] > 0)
    start, end = header[name]["data_offsets"]
    header[name]["data_offsets"] = [start - 4, end - 4]
    _write_weights(copy, header, data)
    refused_load(copy, SavedModelError, "model.safetensors", name)


def test_a_truncated_weights_file_is_refused(copy):
    header, data = _header_and_data(copy)
    _write_weights(copy, header, data[:-100])
    refused_load(copy, SavedModelError, "model.safetensors")


def test_an_unknown_dtype_is_refused(copy):
    header, data = _header_and_data(copy)
    name = next(k for k in header if k != "__metadata__")
    header[name]["dtype"] = "C128"
    _write_weights(copy, header, data)
    refused_load(copy, SavedModelError, name, "C128")


def test_a_float16_tensor_where_float32_belongs_is_refused(copy, quantize_calls):
    def halve(tensors):
        tensors["model.norm.weight"] = tensors["model.norm.weight"].half()

    edit_weights(copy, halve)
    refused_load(copy, SavedModelError, "model.norm.weight", "float16", "float32")


def test_a_tensor_of_another_shape_is_refused(copy):
    def widen(tensors):
        tensors["model.norm.weight"] = torch.ones(65)

    edit_weights(copy, widen)
    refused_load(copy, SavedModelError, "model.norm.weight", "[65]", "[64]")


def test_a_quantized_weight_of_another_dtype_is_refused(copy):
    name = "model.layers.0.mlp.up_proj.base_layer.weight._data"

    def to_float8(tensors):
        tensors[name] = tensors[name].to(torch.float8_e4m3fn)

    edit_weights(copy, to_float8)
    refused_load(copy, SavedModelError, name, "int8")


def test_an_extra_tensor_is_refused(copy):
    edit_weights(copy, lambda tensors: tensors.__setitem__("model.smuggled", torch.zeros(2)))
    refused_load(copy, SavedModelError, "model.smuggled")


def test_a_missing_tensor_is_refused(copy):
    edit_weights(copy, lambda tensors: tensors.pop("model.layers.1.input_layernorm.weight"))
    refused_load(copy, SavedModelError, "model.layers.1.input_layernorm.weight")


# ----- loading: the plan and the config are checked against the space ------------------------------------


def test_a_weight_type_edited_in_the_plan_is_refused(copy, quantize_calls):
    edit_plan(copy, lambda plan: step_of(plan, "quanto")["params"].__setitem__("weight_bits", "qfloat8"))
    refused_load(copy, SavedModelError, "quanto_weight_bits", "qfloat8", "plan.json")
    assert quantize_calls.count == 0


def test_a_huge_lora_rank_is_refused_before_allocating(copy, quantize_calls):
    def huge(plan):
        plan["config"]["lora"]["r"] = 10**9
        step_of(plan, "lora")["params"]["r"] = 10**9

    edit_plan(copy, huge)
    (copy / "config.yaml").write_text((copy / "config.yaml").read_text().replace("r: 4", f"r: {10**9}"))
    rehash(copy)
    refused_load(copy, SavedModelError, "lora_r", "config.yaml")
    assert quantize_calls.count == 0


def test_a_rank_edited_in_the_plan_only_is_refused(copy):
    edit_plan(copy, lambda plan: step_of(plan, "lora")["params"].__setitem__("r", 1024))
    refused_load(copy, SavedModelError, "lora_r", "1024")


def test_a_step_with_an_unknown_algorithm_is_refused(copy):
    edit_plan(copy, lambda plan: step_of(plan, "lora").__setitem__("algorithm", "evil"))
    refused_load(copy, SavedModelError, "evil", "plan.json")


def test_steps_in_another_order_are_refused(copy):
    edit_plan(copy, lambda plan: plan["steps"].reverse())
    refused_load(copy, SavedModelError, "steps")


def test_a_path_list_holding_a_number_is_refused(copy):
    edit_plan(copy, lambda plan: step_of(plan, "quanto")["acted"].append(5))
    refused_load(copy, SavedModelError, "acted")


def test_patterns_edited_in_the_plan_are_refused(copy, quantize_calls):
    edit_plan(copy, lambda plan: step_of(plan, "lora").update(inferred=False, target_modules={"include": ["*"], "exclude": []}))
    refused_load(copy, SavedModelError, "lora_target_modules")
    assert quantize_calls.count == 0


def test_a_plan_that_is_not_an_object_is_refused(copy):
    (copy / "plan.json").write_text('"plan"')
    rehash(copy)
    refused_load(copy, SavedModelError, "plan.json")


def test_a_yaml_alias_bomb_in_the_config_is_refused_quickly(copy):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(9)
    )
    (copy / "config.yaml").write_text(bomb)
    rehash(copy)
    refused_load(copy, SavedModelError, "config.yaml")


def test_a_config_value_outside_the_space_is_refused(copy):
    (copy / "config.yaml").write_text((copy / "config.yaml").read_text().replace("qint8", "qint3"))
    rehash(copy)
    refused_load(copy, SavedModelError, "config.yaml", "qint3")


# ----- loading: the model ---------------------------------------------------------------------------------


def test_loading_onto_a_loaded_model_is_refused(saved):
    model = load_smashed(saved[0], meta_llama())
    refused_load(saved[0], SavedModelError, "already smashed", model=model)


def test_a_save_of_a_custom_pipeline_cannot_be_rebuilt_without_its_model(tmp_path):
    pipe = smash(models.pipeline(), {"quanto": {}})
    save_smashed(pipe, tmp_path / "pipe")
    files = disk(tmp_path)
    with pytest.raises(SavedModelError, match="load_smashed\\(directory, model\\)"):
        load_smashed(tmp_path / "pipe")
    assert disk(tmp_path) == files


@pytest.mark.parametrize("name", ["system", "PretrainedConfig", "../evil", "AutoModel"])
def test_a_model_class_edited_in_the_manifest_is_refused(saved, tmp_path, name):
    directory = tmp_path / "edited"
    directory.mkdir()
    for file in saved[0].iterdir():
        (directory / file.name).write_bytes(file.read_bytes())
    manifest = json.loads((directory / "smashconfig.json").read_text())
    manifest["model"]["class"] = name
    write_manifest(directory, manifest)
    files = disk(directory)
    with pytest.raises(SavedModelError) as caught:
        load_smashed(directory)
    assert name[:20] in str(caught.value)
    assert disk(directory) == files


# ----- the command line -----------------------------------------------------------------------------------


def cli(capsys, *argv: str):
    from smashconfig.cli.entry import main

    capsys.readouterr()  # what fixtures printed
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def ckpt(tmp_path) -> Path:
    source = tmp_path / "ckpt"
    models.tiny_llama().save_pretrained(source)
    return source


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / "quanto.yaml"
    path.write_text("quanto:\n  weight_bits: qint8\n")
    return path


def test_cli_output_into_the_models_own_directory_is_refused_before_smashing(capsys, ckpt, config_file):
    files = disk(ckpt)
    code, out, err = cli(capsys, "smash", str(config_file), "--model", str(ckpt), "--output", str(ckpt), "--overwrite")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(ckpt) in err and "loaded from" in err
    assert disk(ckpt) == files


def test_cli_empty_output_is_an_error(capsys, config_file, tmp_path):
    files = disk(tmp_path)
    code, out, err = cli(capsys, "smash", str(config_file), "--model", "tiny-llama", "--output", "")
    assert code == 2 and out == "" and err.count("\n") == 1 and "directory" in err
    assert disk(tmp_path) == files


def test_cli_unwritable_output_is_refused_before_smashing(capsys, config_file, tmp_path):
    code, out, err = cli(capsys, "smash", str(config_file), "--model", "tiny-llama", "--output", "/sys/smashconfig-cli/out")
    assert code == 2 and out == "" and err.count("\n") == 1 and "/sys/smashconfig-cli/out" in err
    assert not os.path.lexists("/sys/smashconfig-cli")


def test_cli_busy_output_needs_overwrite(capsys, config_file, tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    files = disk(target)
    code, out, err = cli(capsys, "smash", str(config_file), "--model", "tiny-llama", "--output", str(target))
    assert code == 2 and out == "" and err.count("\n") == 1 and "--overwrite" in err
    assert disk(target) == files

    code, out, err = cli(capsys, "smash", str(config_file), "--model", "tiny-llama", "--output", str(target), "--overwrite")
    assert code == 0 and "saved:" in out
    assert (target / "mine.txt").read_text() == "keep" and (target / "smashconfig.json").is_file()
