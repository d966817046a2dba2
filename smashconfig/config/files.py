"""Config files: YAML (safe loader only) and JSON, with errors that point at ``file:line``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple, TypeVar, Union

from smashconfig.errors import ConfigFileError, ConfigFileNotFoundError, SmashConfigError

if TYPE_CHECKING:
    import yaml

Lines = Dict[Tuple[str, ...], int]
"""Line number (1-based) of each key, by its path in the document: ``("quanto", "weight_bits")``."""

_SAFE_TAGS = {
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "map", "seq", "merge", "timestamp")
}
_MERGE = "tag:yaml.org,2002:merge"
_SUFFIXES = {"yaml": (".yaml", ".yml"), "json": (".json",)}


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
    names_file = isinstance(source, str) and "\n" not in source and os.path.exists(source)
    if isinstance(source, Path) or names_file:
        path = Path(source)
        if path.is_dir():
            raise ConfigFileError(f"{str(path)!r} is a directory, not a {fmt.upper()} config file.")
        if not path.exists():
            raise ConfigFileNotFoundError(f"config file {str(path)!r} does not exist.")
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except UnicodeDecodeError as error:
            raise _file_error(str(path), None, f"the file is not UTF-8 text (byte {error.start}): save it as UTF-8.") from None
    if not isinstance(source, str):
        raise ConfigFileError(f"a {fmt.upper()} config is a path or text; got {type(source).__name__}.")
    if "\n" not in source and source.strip().endswith(_SUFFIXES[fmt]) and ": " not in source:
        raise ConfigFileNotFoundError(f"config file {source!r} does not exist.")
    return source, f"<{fmt} text>"


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

    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as error:
            raise _yaml_error(error, name) from None
        except yaml.YAMLError as error:
            raise _file_error(name, None, f"malformed YAML: {error}.") from None
        if node is None:
            raise _file_error(name, None, "the file is empty; write a mapping such as 'quanto: {weight_bits: qint8}'.")
        if not isinstance(node, yaml.MappingNode):
            raise _file_error(
                name,
                node.start_mark.line + 1,
                f"the top level must be a mapping of algorithm names or config keys; got a {_kind(node)}.",
            )
        lines: Lines = {}
        _walk(node, (), lines, name, set())
        try:
            data = loader.construct_document(node)
        except yaml.MarkedYAMLError as error:
            raise _yaml_error(error, name) from None
    finally:
        loader.dispose()
    return data, lines


def _walk(node: "yaml.Node", path: Tuple[str, ...], lines: Lines, name: str, visited: set) -> None:
    """Refuse unsafe tags and duplicate keys; record the line of every mapping key.

    A node reached again through an alias is not walked again, so nested aliases cost nothing.
    """
    import yaml

    if id(node) in visited:
        return
    visited.add(id(node))
    if node.tag not in _SAFE_TAGS:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise _file_error(
            name,
            node.start_mark.line + 1,
            f"the tag {tag} is not allowed: a config file holds only mappings (merge keys '<<' included), "
            "lists, strings, numbers, booleans and null, and is read with a safe loader.",
        )
    if isinstance(node, yaml.MappingNode):
        seen: Dict[str, int] = {}
        for key_node, value_node in node.value:
            _walk(key_node, path, lines, name, visited)
            if key_node.tag == _MERGE:
                _walk(value_node, path, lines, name, visited)
                _merged_lines(value_node, path, lines)
                continue
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _file_error(
                    name, line, f"the key {key!r} appears twice (first at line {seen[key]}); keep one of them."
                )
            seen[key] = line
            lines[path + (key,)] = line
            _walk(value_node, path + (key,), lines, name, visited)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _walk(item, path, lines, name, visited)


def _merged_lines(node: "yaml.Node", path: Tuple[str, ...], lines: Lines) -> None:
    """Give the keys a merge (``<<: {...}`` or ``<<: [*a, *b]``) brings in the line where they are
    written, unless the mapping writes the key itself."""
    import yaml

    mappings = node.value if isinstance(node, yaml.SequenceNode) else [node]
    for mapping in mappings:
        if isinstance(mapping, yaml.MappingNode):
            for key_node, _ in mapping.value:
                if key_node.tag != _MERGE:
                    lines.setdefault(path + (str(key_node.value),), key_node.start_mark.line + 1)


def _kind(node: "yaml.Node") -> str:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return "list"
    return f"scalar {node.value!r}"


def _yaml_error(error: Any, name: str) -> ConfigFileError:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = error.problem or error.context or "cannot be parsed"
    return _file_error(name, line, f"malformed YAML: {problem}.")


def _file_error(name: str, line: Optional[int], message: str) -> ConfigFileError:
    error = ConfigFileError(message)
    error.source = name if line is None else f"{name}:{line}"
    return error


def parse_json(text: str, name: str) -> Tuple[Any, Lines]:
    """The document's data; duplicate keys and malformed JSON are errors with ``file:line``."""

    def no_duplicates(pairs: Any) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise _file_error(name, None, f"the key {key!r} appears twice in one object; keep one of them.")
            out[key] = value
        return out

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as error:
        raise _file_error(name, error.lineno, f"malformed JSON: {error.msg}.") from None
    if not isinstance(data, dict):
        raise _file_error(name, None, f"the top level must be an object; got {type(data).__name__}.")
    return data, {}


def dump_yaml(data: Any, path: Union[str, Path, None] = None) -> str:
    """``data`` as YAML text, written to ``path`` too when given."""
    import yaml

    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def dump_json(data: Any, path: Union[str, Path, None] = None) -> str:
    """``data`` as indented JSON text, written to ``path`` too when given."""
    text = json.dumps(data, indent=2) + "\n"
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text
