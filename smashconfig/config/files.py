"""Config files: YAML (safe loader only) and JSON, with errors that point at ``file:line``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple, TypeVar, Union

from smashconfig.config.yaml_checks import MAX_DEPTH, Lines, check_expansion, file_error, kind, walk
from smashconfig.errors import (
    ConfigFileAccessError,
    ConfigFileError,
    ConfigFileNotFoundError,
    SmashConfigError,
    short_repr,
)

if TYPE_CHECKING:
    import yaml

_SUFFIXES = {"yaml": (".yaml", ".yml"), "json": (".json",)}
MAX_BYTES = 10 * 2**20
"""Largest config read (a config is a few hundred bytes; /dev/zero never ends)."""


Built = TypeVar("Built")


def load_config(source: Union[str, Path], fmt: str, build: Callable[[Any], Built]) -> Built:
    """``build(data)`` for the data of a file or text in ``fmt`` (``"yaml"`` or ``"json"``); an error
    ``build`` raises is given the ``file:line`` of the key it names."""
    text, name = read_source(source, fmt)
    data, lines = parse_yaml(text, name) if fmt == "yaml" else parse_json(text, name)
    try:
        return build(data)
    except SmashConfigError as error:
        error.source = locate(name, lines, error.location)
        raise


def read_source(source: Union[str, Path], fmt: str) -> Tuple[str, str]:
    """(text, name for messages): ``source`` is a path, or text when it is a string naming no file."""
    names_file = isinstance(source, str) and "\n" not in source and _exists(source)
    if isinstance(source, Path) or names_file:
        path = Path(source)
        shown = short_repr(str(path), 200)
        try:
            if path.is_dir():
                raise ConfigFileError(f"{shown} is a directory, not a {fmt.upper()} config file.")
            if not path.exists():
                raise ConfigFileNotFoundError(f"config file {shown} does not exist.")
            with open(path, "rb") as handle:
                data = handle.read(MAX_BYTES + 1)
        except SmashConfigError:
            raise
        except OSError as error:
            raise ConfigFileAccessError(f"cannot read config file {shown}: {error.strerror or error}.") from None
        _check_size(len(data), shown)
        try:
            return data.decode("utf-8"), str(path)
        except UnicodeDecodeError as error:
            raise file_error(str(path), None, f"the file is not UTF-8 text (byte {error.start}): save it as UTF-8.") from None
    if not isinstance(source, str):
        raise ConfigFileError(f"a {fmt.upper()} config is a path or text; got {type(source).__name__}.")
    if "\n" not in source and source.strip().endswith(_SUFFIXES[fmt]) and ": " not in source:
        raise ConfigFileNotFoundError(f"config file {short_repr(source, 200)} does not exist.")
    _check_size(len(source), f"<{fmt} text>")
    return source, f"<{fmt} text>"


def _exists(source: str) -> bool:
    try:
        return os.path.exists(source)
    except (OSError, ValueError):
        return False


def _check_size(size: int, shown: str) -> None:
    if size > MAX_BYTES:
        raise ConfigFileError(
            f"{shown} holds more than {MAX_BYTES // 2**20} MiB; a config is a small text file (is this the right file?)."
        )


def locate(name: str, lines: Lines, location: Optional[Tuple[str, ...]]) -> str:
    """``name:line`` for the deepest known part of ``location``, else ``name``."""
    if location:
        for end in range(len(location), 0, -1):
            line = lines.get(tuple(location[:end]))
            if line is not None:
                return f"{name}:{line}"
    return name


def parse_yaml(text: str, name: str) -> Tuple[Any, Lines]:
    """The document's data and key lines; only plain mappings, lists and scalars are allowed."""
    import yaml

    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as error:
        raise file_error(
            name, None, f"character {error.character!r} at position {error.position} is not allowed in YAML text."
        ) from None
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as error:
            raise _yaml_error(error, name) from None
        except yaml.reader.ReaderError as error:
            raise file_error(
                name, None, f"character {error.character!r} at position {error.position} is not allowed in YAML text."
            ) from None
        except yaml.YAMLError as error:
            raise file_error(name, None, f"malformed YAML: {error}.") from None
        except RecursionError:
            raise file_error(name, None, f"mappings and lists are nested too deeply (at most {MAX_DEPTH} levels).") from None
        if node is None:
            raise file_error(name, None, "the file is empty; write a mapping such as 'quanto: {weight_bits: qint8}'.")
        if not isinstance(node, yaml.MappingNode):
            raise file_error(
                name,
                node.start_mark.line + 1,
                f"the top level must be a mapping of algorithm names or config keys; got a {kind(node)}.",
            )
        lines: Lines = {}
        walk(node, (), lines, name, set())
        check_expansion(node, name)
        try:
            data = loader.construct_document(node)
        except yaml.MarkedYAMLError as error:
            raise _yaml_error(error, name) from None
        except (ValueError, OverflowError, RecursionError) as error:
            raise file_error(name, None, f"a value cannot be read: {short_repr(str(error), 200)}.") from None
    finally:
        loader.dispose()
    return data, lines


def _yaml_error(error: Any, name: str) -> ConfigFileError:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = error.problem or error.context or "cannot be parsed"
    return file_error(name, line, f"malformed YAML: {problem}.")


def parse_json(text: str, name: str) -> Tuple[Any, Lines]:
    """The document's data; duplicate keys and malformed JSON are errors with ``file:line``."""

    def no_duplicates(pairs: Any) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise file_error(name, None, f"the key {key!r} appears twice in one object; keep one of them.")
            out[key] = value
        return out

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as error:
        raise file_error(name, error.lineno, f"malformed JSON: {error.msg}.") from None
    if not isinstance(data, dict):
        raise file_error(name, None, f"the top level must be an object; got {type(data).__name__}.")
    return data, {}


def dump_yaml(data: Any, path: Union[str, Path, None] = None) -> str:
    """``data`` as YAML text, written to ``path`` too when given."""
    import yaml

    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    if path is not None:
        _write(path, text)
    return text


def dump_json(data: Any, path: Union[str, Path, None] = None) -> str:
    """``data`` as indented JSON text, written to ``path`` too when given."""
    text = json.dumps(data, indent=2) + "\n"
    if path is not None:
        _write(path, text)
    return text


def _write(path: Union[str, Path], text: str) -> None:
    """Write ``text`` to ``path``; a directory, a missing folder or no permission is one clear error."""
    shown = short_repr(str(path), 200)
    if not isinstance(path, (str, Path)):
        raise ConfigFileError(f"a config is written to a path (str or Path); got {short_repr(path)} ({type(path).__name__}).")
    try:
        if Path(path).is_dir():
            raise ConfigFileAccessError(f"cannot write the config to {shown}: it is a directory; name a file in it.")
        Path(path).write_text(text, encoding="utf-8")
    except OSError as error:
        if isinstance(error, ConfigFileAccessError):
            raise
        raise ConfigFileAccessError(f"cannot write the config to {shown}: {error.strerror or error}.") from None
