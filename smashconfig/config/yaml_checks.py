"""Checks on a YAML document's nodes, made before any value is built from them.

A config file holds only plain mappings, lists and scalars; no key is written twice, merges
(``<<``) never silently override one another, nesting and integers stay small, and aliases
cannot expand the document past a small bound (an alias bomb is refused before it expands).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional, Tuple

from smashconfig.errors import ConfigFileError, short_repr

if TYPE_CHECKING:
    import yaml

Lines = Dict[Tuple[str, ...], int]
"""Line number (1-based) of each key, by its path in the document: ``("quanto", "weight_bits")``."""

_SAFE_TAGS = {
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "map", "seq", "merge", "timestamp")
}
_MERGE = "tag:yaml.org,2002:merge"
MAX_VALUES = 100_000
"""Most values a YAML document may hold once its aliases are expanded (an alias bomb holds billions)."""
MAX_DEPTH = 100
"""Deepest nesting of mappings and lists in a config."""
MAX_DIGITS = 100
"""Longest integer literal in a config."""


def walk(node: "yaml.Node", path: Tuple[str, ...], lines: Lines, name: str, visited: set, depth: int = 0) -> None:
    """Refuse unsafe tags, duplicate keys, clashing merges, deep nesting and huge integers; record
    the line of every mapping key.

    A node reached again through an alias is not walked again, so nested aliases cost nothing.
    """
    import yaml

    if id(node) in visited:
        return
    visited.add(id(node))
    if depth > MAX_DEPTH:
        raise file_error(name, node.start_mark.line + 1, f"mappings and lists are nested more than {MAX_DEPTH} levels deep.")
    if node.tag == "tag:yaml.org,2002:int" and len(str(node.value)) > MAX_DIGITS:
        raise file_error(
            name, node.start_mark.line + 1, f"an integer of {len(str(node.value))} characters; at most {MAX_DIGITS} are read."
        )
    if node.tag not in _SAFE_TAGS:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise file_error(
            name,
            node.start_mark.line + 1,
            f"the tag {tag} is not allowed: a config file holds only mappings (merge keys '<<' included), "
            "lists, strings, numbers, booleans and null, and is read with a safe loader.",
        )
    if isinstance(node, yaml.MappingNode):
        seen: Dict[str, int] = {}
        merged: Dict[str, int] = {}
        for key_node, value_node in node.value:
            walk(key_node, path, lines, name, visited, depth + 1)
            if key_node.tag == _MERGE:
                line = key_node.start_mark.line + 1
                if "<<" in seen:
                    raise file_error(
                        name, line, f"a second merge key '<<' (first at line {seen['<<']}): the second would silently "
                        "override what the first brings; write one '<<' with a list, e.g. '<<: [*a, *b]'."
                    )
                seen["<<"] = line
                walk(value_node, path, lines, name, visited, depth + 1)
                _check_merged_keys(value_node, merged, name)
                _merged_lines(value_node, path, lines)
                continue
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise file_error(
                    name, line, f"the key {key!r} appears twice (first at line {seen[key]}); keep one of them."
                )
            seen[key] = line
            lines[path + (key,)] = line
            walk(value_node, path + (key,), lines, name, visited, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            walk(item, path, lines, name, visited, depth + 1)


def _check_merged_keys(node: "yaml.Node", merged: Dict[str, int], name: str) -> None:
    """Refuse a key that two merged mappings both bring (one would silently override the other)."""
    import yaml

    for mapping in node.value if isinstance(node, yaml.SequenceNode) else [node]:
        if not isinstance(mapping, yaml.MappingNode):
            continue
        for key_node, _ in mapping.value:
            if key_node.tag == _MERGE:
                continue
            key, line = str(key_node.value), key_node.start_mark.line + 1
            if key in merged and merged[key] != line:
                raise file_error(
                    name, line, f"the key {short_repr(key)} is brought by two merges (also line {merged[key]}); "
                    "one would silently override the other: keep it in one of them, or write it in this mapping."
                )
            merged[key] = line


def check_expansion(root: "yaml.Node", name: str) -> None:
    """Refuse a document whose aliases expand to more than :data:`MAX_VALUES` values, before expanding it.

    Each node's expanded size is its own plus its children's, computed once per node (an alias is
    the same node again), so the count costs no more than the document as written.
    """
    import yaml

    sizes: Dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        if done:
            sizes[id(node)] = 1 + sum(sizes.get(id(child), 0) for child in children)
            if sizes[id(node)] > MAX_VALUES:
                raise file_error(
                    name, node.start_mark.line + 1, f"its aliases expand to more than {MAX_VALUES:,} values "
                    "(an alias bomb?); a config holds a few hundred."
                )
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


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


def kind(node: "yaml.Node") -> str:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return "list"
    return f"scalar {node.value!r}"


def file_error(name: str, line: Optional[int], message: str) -> ConfigFileError:
    error = ConfigFileError(message)
    error.source = name if line is None else f"{name}:{line}"
    return error
