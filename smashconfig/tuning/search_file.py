"""Reading a search from a YAML or JSON file, YAML text, a mapping or a config, with ``file:line`` errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Union

from smashconfig.config.files import locate, parse_json, parse_yaml, read_source
from smashconfig.config.smash_config import SmashConfig
from smashconfig.errors import SmashConfigError
from smashconfig.tuning.search_space import SearchSpace, parse_search

SearchSource = Union[str, Path, Mapping, SmashConfig, SearchSpace]


def load_search(source: SearchSource) -> SearchSpace:
    """A :class:`SearchSpace` from a file (``.json`` or YAML), YAML text, a mapping, or a config (one point)."""
    if isinstance(source, SearchSpace):
        return source
    if isinstance(source, SmashConfig):
        return parse_search(source.to_dict(defaults=False), name="config")
    if isinstance(source, Mapping):
        return parse_search(source)
    fmt = "json" if str(source).endswith(".json") else "yaml"
    text, name = read_source(source, fmt)
    data, lines = parse_yaml(text, name) if fmt == "yaml" else parse_json(text, name)
    stem = Path(name).stem if not name.startswith("<") else "search"
    try:
        return parse_search(data, name=stem)
    except SmashConfigError as error:
        error.source = locate(name, lines, error.location)
        raise
