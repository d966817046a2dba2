"""A model the command line works on, with sample inputs and the tensor its output check compares.

Nothing here imports a backend at module level; each readout turns a model's raw output into
one comparable tensor per sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from smashconfig.errors import MissingBackendError
from smashconfig.text.install import install_command

if TYPE_CHECKING:
    import torch

SENTENCES = [
    "Quantization stores weights in fewer bits.",
    "A low-rank adapter trains a small update to a frozen layer.",
    "The cat sat on the mat.",
    "smashconfig says which modules each algorithm acts on.",
]


@dataclass
class DemoModel:
    """A model with sample inputs and the function that turns its raw output into a tensor to compare."""

    name: str
    model: Any
    inputs: Any
    readout: Callable[[Any, Any], "torch.Tensor"]
    tokenizer: Any = None
    """The model's own tokenizer, when its directory has one."""

    def output(self, model: Any) -> "torch.Tensor":
        """The comparable output of ``model`` (this one or a smashed copy) on the sample inputs."""
        import torch

        with torch.no_grad():
            raw = model(**self.inputs) if isinstance(self.inputs, dict) else model(self.inputs)
        return self.readout(raw, self.inputs).float()


class CheckSkipped(Exception):
    """The output check cannot run on this model; the message says why, in one line."""


@dataclass
class PipelineModel(DemoModel):
    """A pipeline: ``inputs`` are keyword arguments of its call, run with a freshly seeded generator."""

    missing: str = ""
    """Why the pipeline cannot run on sample inputs (``""``: it can)."""

    def output(self, model: Any) -> "torch.Tensor":
        import torch

        if self.missing:
            raise CheckSkipped(self.missing)
        with torch.no_grad():
            raw = model(**self.inputs, generator=torch.Generator().manual_seed(0))
        return self.readout(raw, self.inputs).float()


def transformers_package(model: str) -> Any:
    """The ``transformers`` package, or a :class:`MissingBackendError` naming the extra that brings it."""
    try:
        import transformers
    except ImportError:
        raise MissingBackendError(
            f"the model {model!r} needs the package transformers, which is not installed; "
            f"install it with: {install_command('demo')}"
        ) from None
    return transformers


def model_output(output: Any, inputs: Any) -> "torch.Tensor":
    """Logits where the model has a head, else the mean-pooled last hidden states."""
    found = getattr(output, "logits", None)
    if found is not None:
        return found
    if getattr(output, "last_hidden_state", None) is not None:
        return mean_pooled(output, inputs)
    import torch

    if isinstance(output, torch.Tensor):
        return output
    first = output[0] if isinstance(output, (tuple, list)) and output else None
    if isinstance(first, torch.Tensor):
        return first
    raise TypeError(f"the model returned a {type(output).__name__}, with no logits or hidden states to compare")


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
