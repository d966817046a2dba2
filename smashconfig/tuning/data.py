"""The batches a search measures on: the user's, texts tokenized by the model's tokenizer, or built-in ones."""

from __future__ import annotations

from collections import abc
from pathlib import Path
from typing import Any, List, Optional, Sequence, Union

from smashconfig.errors import ConfigFileError, ConfigFileNotFoundError, IllegalValueError, WrongTypeError, describe

#: Texts measured on when the model has a tokenizer and no data is given.
SAMPLE_TEXTS = (
    "Quantization stores the weights of a network in fewer bits, trading a little accuracy for memory.",
    "A low-rank adapter trains a small update next to a frozen layer instead of the layer itself.",
    "The cat sat on the mat and watched the rain run down the window until evening.",
    "Compression is a search: each choice of bits and layers is a point between size and quality.",
    "On Mondays the market opens early, and the bakery on the corner sells out of bread by nine.",
    "Large language models predict the next token from the tokens before it, one step at a time.",
)
BATCH_SIZE = 8
MAX_LENGTH = 128


def read_texts(path: Union[str, Path]) -> List[str]:
    """The non-empty lines of a UTF-8 text file, one sample each."""
    source = Path(path)
    if not source.is_file():
        raise ConfigFileNotFoundError(f"--data {str(source)!r} is not a file; give a UTF-8 text file, one sample per line.")
    try:
        texts = [line.strip() for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as error:
        raise ConfigFileError(f"--data {str(source)!r} is not UTF-8 text (byte {error.start}).") from None
    if not texts:
        raise ConfigFileError(f"--data {str(source)!r} holds no text; write one sample per line.")
    return texts


def tokenized(texts: Sequence[str], tokenizer: Any) -> List[dict]:
    """``texts`` as batches of token ids (padded batches of 8, or one text each when the tokenizer cannot pad)."""
    size = BATCH_SIZE if getattr(tokenizer, "pad_token", None) is not None else 1
    return [
        dict(tokenizer(list(texts[i : i + size]), padding=size > 1, truncation=True, max_length=MAX_LENGTH, return_tensors="pt"))
        for i in range(0, len(texts), size)
    ]


def token_batches(vocab_size: int, *, batches: int = 2, rows: int = 4, length: int = 16, seed: int = 0) -> List[dict]:
    """Deterministic random token ids, for a model without a tokenizer."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return [{"input_ids": torch.randint(0, vocab_size, (rows, length), generator=generator)} for _ in range(batches)]


def prepare_batches(model: Any, data: Optional[Any], tokenizer: Optional[Any]) -> List[Any]:
    """The batches to measure on: ``data`` (batches, or texts with ``tokenizer``), else built-in samples."""
    if data is None:
        if tokenizer is not None:
            return tokenized(SAMPLE_TEXTS, tokenizer)
        vocab = getattr(getattr(model, "config", None), "vocab_size", None)
        if not isinstance(vocab, int):
            raise IllegalValueError("the model has no tokenizer and no config.vocab_size; pass data=[batch, ...].", key="data")
        return token_batches(vocab)
    if isinstance(data, (str, bytes)) or isinstance(data, abc.Mapping) or not isinstance(data, abc.Iterable):
        raise WrongTypeError(f"data takes a list of batches (or of texts, with tokenizer=); got {describe(data)}.", key="data")
    items = list(data)
    if not items:
        raise IllegalValueError("data is empty; give at least one batch.", key="data")
    if all(isinstance(item, str) for item in items):
        if tokenizer is None:
            raise IllegalValueError("data holds texts, but the model has no tokenizer to turn them into token ids.", key="data")
        return tokenized(items, tokenizer)
    return items
