"""YAML loading that remembers line numbers, so every error can name the line it is about."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import QuizError


class LineDict(dict):
    """A dict from YAML that knows the line it starts on and the line of each key."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        """The line of key, or of the mapping itself when the key is absent."""
        return self.key_lines.get(key, self.line)


# libyaml's parser when available (several times faster); the constructor stays the safe one.
_SafeBase = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_SafeBase):  # type: ignore[misc, valid-type]
    """SafeLoader (no Python tags, ever) that builds LineDicts and refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:  # type: ignore[override]
        self.flatten_mapping(node)
        out = LineDict()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in out:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            out[key] = self.construct_object(value_node, deep=deep)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LineLoader.construct_mapping)


def load_yaml(path: Path, text: str | None = None) -> Any:
    """Parse a YAML file; a syntax error becomes a QuizError naming the file and line."""
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise QuizError(f"cannot read: {exc.strerror}", file=path) from exc
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a (C)SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise QuizError(f"invalid YAML: {problem}", file=path, line=line) from exc
    except yaml.YAMLError as exc:
        raise QuizError(f"invalid YAML: {exc}", file=path) from exc
