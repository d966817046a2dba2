"""Local directories the command line loads as models: transformers, diffusers, and smashed ones.

A transformers directory (``config.json``) is loaded with the class its ``architectures`` names,
so a head model keeps its head; a diffusers directory (``model_index.json``) is loaded as its
pipeline; a directory written by ``save_smashed`` (``smashconfig.json``) by ``load_smashed``.
"""

from __future__ import annotations

import inspect
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, Tuple

from smashconfig.cli.demo import SENTENCES, DemoModel, PipelineModel, model_output, transformers_package
from smashconfig.errors import MissingBackendError, ModelChoiceError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger("smashconfig")

PIPELINE_INDEX = "model_index.json"
#: What a pipeline is asked to produce for the output check: small and quick.
PIPELINE_CALL = {
    "num_inference_steps": 2,
    "height": 32,
    "width": 32,
    "num_frames": 5,
    "max_sequence_length": 32,
    "output_type": "pt",
}


def from_directory(path: Path) -> DemoModel:
    """The model saved in ``path``: a smashed model, a diffusers pipeline, or a transformers model."""
    from smashconfig.apply.saving import MANIFEST

    if (path / MANIFEST).is_file():
        return from_smashed(path)
    if (path / PIPELINE_INDEX).is_file():
        return from_diffusers(path)
    return from_transformers(path)


def from_transformers(path: Path) -> DemoModel:
    """A transformers model directory, loaded with the class ``config.json`` names (its head kept)."""
    transformers = transformers_package(str(path))
    try:
        config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as error:
        raise ModelChoiceError(
            f"--model {str(path)!r} is not a model directory (no {PIPELINE_INDEX}, and its config.json "
            f"cannot be read): {_first_line(error)}"
        ) from None
    model_class = architecture_class(transformers, config)
    logger.debug("loading %s as %s", path, model_class.__name__)
    with _quiet(transformers):
        try:
            model = model_class.from_pretrained(path, local_files_only=True).eval()
        except (OSError, ValueError, ImportError, KeyError) as error:
            raise ModelChoiceError(f"--model {str(path)!r} could not be loaded: {_first_line(error)}") from None
    inputs, tokenizer = sample_inputs(transformers, path, model.config)
    return DemoModel(str(path), model, inputs, model_output, tokenizer)


def architecture_class(transformers: Any, config: Any) -> Any:
    """The class ``config.architectures`` names (``GPT2LMHeadModel``), else ``AutoModel``."""
    for name in getattr(config, "architectures", None) or []:
        try:
            found = getattr(transformers, name, None)
        except ImportError as error:  # the class needs a package that is not installed
            logger.debug("cannot use %s: %s", name, error)
            continue
        if inspect.isclass(found) and hasattr(found, "from_pretrained"):
            return found
    return transformers.AutoModel


def sample_inputs(transformers: Any, path: Path, config: Any) -> Tuple[Dict[str, "torch.Tensor"], Any]:
    """Tokenized sample sentences and the tokenizer (random token ids and ``None`` when the directory
    has no usable tokenizer); an encoder-decoder model also gets the same ids as its decoder inputs."""
    import torch

    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        inputs = dict(tokenizer(SENTENCES, padding=True, return_tensors="pt"))
    except (OSError, ValueError, TypeError, KeyError, AttributeError, ImportError):  # no usable tokenizer
        tokenizer = None
        generator = torch.Generator().manual_seed(0)
        vocab = getattr(config, "vocab_size", None) or 100
        inputs = {"input_ids": torch.randint(0, vocab, (4, 16), generator=generator)}
    if getattr(config, "is_encoder_decoder", False):
        inputs["decoder_input_ids"] = inputs["input_ids"]
        if "attention_mask" in inputs:
            inputs["decoder_attention_mask"] = inputs["attention_mask"]
    return inputs, tokenizer


def from_diffusers(path: Path) -> DemoModel:
    """A diffusers pipeline directory (``save_pretrained`` of a pipeline)."""
    try:
        import diffusers
    except ImportError:
        raise MissingBackendError(
            f"--model {str(path)!r} is a diffusers pipeline ({PIPELINE_INDEX}), which needs the package "
            "diffusers; install it with: pip install diffusers"
        ) from None
    with _quiet(transformers_package(str(path))), _quiet(diffusers):
        try:
            pipeline = diffusers.DiffusionPipeline.from_pretrained(path, local_files_only=True, **_absent(path))
        except (OSError, ValueError, TypeError, AttributeError, ImportError, KeyError) as error:
            raise ModelChoiceError(f"--model {str(path)!r} could not be loaded as a pipeline: {_first_line(error)}") from None
    if hasattr(pipeline, "set_progress_bar_config"):
        pipeline.set_progress_bar_config(disable=True)
    logger.debug("loaded %s as %s", path, type(pipeline).__name__)
    absent = [name for name in _absent(path) if "tokenizer" in name]
    missing = f"the pipeline has no {' or '.join(absent)} to turn a prompt into inputs" if absent else ""
    return PipelineModel(str(path), pipeline, pipeline_call(pipeline), pipeline_output, missing=missing)


def _absent(path: Path) -> Dict[str, None]:
    """The components saved as absent (``[null, null]`` in ``model_index.json``, such as a tokenizer
    the pipeline was built without), passed as ``None`` so that loading does not ask for them."""
    import json

    try:
        index = json.loads((path / PIPELINE_INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelChoiceError(f"--model {str(path)!r}: {PIPELINE_INDEX} cannot be read: {_first_line(error)}") from None
    if not isinstance(index, dict):
        raise ModelChoiceError(f"--model {str(path)!r}: {PIPELINE_INDEX} is not a JSON object.")
    return {name: None for name, value in index.items() if isinstance(value, list) and value and all(v is None for v in value)}


def pipeline_call(pipeline: Any) -> Dict[str, Any]:
    """Keyword arguments for a short, small, seeded run of ``pipeline`` (those its ``__call__`` takes)."""
    parameters = inspect.signature(pipeline.__call__).parameters
    wanted = dict(PIPELINE_CALL, prompt=SENTENCES[:2])
    return {name: value for name, value in wanted.items() if name in parameters}


def pipeline_output(output: Any, inputs: Any) -> "torch.Tensor":
    """The images (or frames, or audio) a pipeline produced, as one tensor per prompt."""
    import numpy
    import torch

    for name in ("images", "frames", "audios"):
        value = getattr(output, name, None)
        if value is not None:
            if isinstance(value, numpy.ndarray):
                value = torch.from_numpy(value)
            if isinstance(value, torch.Tensor):
                return value
            raise TypeError(f"the pipeline returned {name} as {type(value).__name__}, not tensors")
    raise TypeError(f"the pipeline returned a {type(output).__name__} without images, frames or audios")


def from_smashed(path: Path) -> DemoModel:
    """A directory written by ``save_smashed``, rebuilt by ``load_smashed`` from what it holds."""
    from torch import nn

    from smashconfig.apply.saving import load_smashed

    if _required(load_smashed) > 1:
        raise ModelChoiceError(
            f"--model {str(path)!r} is a smashed model directory, and this version of smashconfig cannot rebuild "
            "a model from it alone; in Python, pass the unsmashed model: load_smashed(directory, model)."
        )
    loaded = load_smashed(path)
    if not isinstance(loaded, nn.Module):
        missing = "" if getattr(loaded, "tokenizer", True) is not None else "the pipeline has no tokenizer"
        return PipelineModel(str(path), loaded, pipeline_call(loaded), pipeline_output, missing=missing)
    config = getattr(loaded, "config", None)
    inputs, tokenizer = sample_inputs(transformers_package(str(path)), path, config) if config is not None else ({}, None)
    return DemoModel(str(path), loaded, inputs, model_output, tokenizer)


def _required(function: Callable[..., Any]) -> int:
    return sum(
        1
        for p in inspect.signature(function).parameters.values()
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    )


@contextmanager
def _quiet(package: Any) -> Iterator[None]:
    """The progress bars of transformers or diffusers off while loading (restored afterwards)."""
    hf_logging = package.utils.logging
    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__

