"""A YAML loader for hostile input that remembers where every key and value came from.

Why not ``yaml.safe_load``: it silently keeps the last of two duplicate keys, expands aliases
without limit ("billion laughs"), recurses without a depth limit, reads ``yes``/``no``/``on`` as
booleans (YAML 1.1) and forgets positions. Here PyYAML only scans, parses and composes nodes (with
a depth and alias guard in the composer); converting nodes to Python values is ours, so we can
check tags, duplicates and expansion size and record a 1-based ``(line, column)`` for every path.

Values follow the YAML 1.2 *core* schema: null (``~``, ``null``, empty), booleans (``true``/
``false`` in three casings), integers (decimal, ``0o``, ``0x``; ``_`` separators allowed), floats
(``1.5``, ``1e-3``, ``.inf``, ``.nan``) and strings. Explicit tags other than the core ones are
rejected, so nothing can construct Python objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from archon.errors import Diagnostic, SpecError

__all__ = [
    "MAX_ALIASES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "Path",
    "Position",
    "YamlTree",
    "load_yaml_bytes",
    "load_yaml_text",
    "oversize_diagnostic",
]

#: Larger spec files are refused before parsing (a real spec is a few KiB).
MAX_BYTES = 2 * 1024 * 1024
#: Deepest nesting of lists/mappings accepted (a real spec nests fewer than 15 levels).
MAX_DEPTH = 64
#: Most alias uses (``*name``) accepted in one document.
MAX_ALIASES = 100
#: Most values (after expanding aliases) accepted in one document.
MAX_NODES = 100_000

Path = tuple[Any, ...]
Position = tuple[int, int]

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_ALLOWED_TAGS = {_STR, _INT, _FLOAT, _BOOL, _NULL, _SEQ, _MAP, _MERGE, _TIMESTAMP}

_INT_RE = re.compile(r"^(?:[-+]?[0-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+)$")
_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:\.[0-9][0-9_]*|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)$")


class _CoreResolver(BaseResolver):
    """Implicit typing by the YAML 1.2 core schema (no ``yes``/``no``/``on``/``off`` booleans)."""


for _tag, _regexp, _first in (
    (_BOOL, _BOOL_RE, "tTfF"),
    (_NULL, _NULL_RE, ["~", "n", "N", ""]),
    (_INT, _INT_RE, "-+0123456789"),
    (_FLOAT, _FLOAT_RE, "-+0123456789."),
    (_MERGE, re.compile(r"^<<$"), "<"),
):
    _CoreResolver.add_implicit_resolver(_tag, _regexp, list(_first))


class _LoadAbort(Exception):
    """Raised inside the composer/converter when a guard trips; carries one Diagnostic."""

    def __init__(self, line: int, column: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.line, self.column, self.message, self.hint = line, column, message, hint


class _GuardedComposer(Composer):
    """PyYAML's composer with limits on nesting depth, alias uses and expanded size.

    The expanded size of a node counts every value it stands for once aliases are expanded; a
    node whose size passes :data:`MAX_NODES` is reported where it is written, before anything is
    expanded for real.
    """

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self._aliases = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise _LoadAbort(
                    mark.line + 1,
                    mark.column + 1,
                    f"too many aliases (more than {MAX_ALIASES})",
                    "a spec needs few anchors; this looks like an alias bomb",
                )
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _LoadAbort(
                    mark.line + 1,
                    mark.column + 1,
                    f"document nested too deeply (more than {MAX_DEPTH} levels)",
                    "flatten the structure",
                )
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._measure(node)
        return node

    def _measure(self, node: Node) -> None:
        if isinstance(node, SequenceNode):
            children: list[Node] = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        size = 1 + sum(self._sizes.get(id(child), 1) for child in children)
        self._sizes[id(node)] = size
        if size > MAX_NODES:
            raise _LoadAbort(
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                f"this value expands to more than {MAX_NODES} values",
                "aliases multiply content; this looks like an alias bomb",
            )


class _Loader(Reader, Scanner, Parser, _GuardedComposer, _CoreResolver):
    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _GuardedComposer.__init__(self)
        _CoreResolver.__init__(self)


@dataclass
class YamlTree:
    """The plain Python value of a document plus where each part of it was written.

    ``positions`` maps a path (keys and list indices from the root) to the position of the value;
    ``key_positions`` maps the path of a mapping entry to the position of its key.
    """

    data: Any
    positions: dict[Path, Position] = field(default_factory=dict)
    key_positions: dict[Path, Position] = field(default_factory=dict)


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


class _Converter:
    """Nodes -> Python values, recording positions and collecting per-key problems."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.tree = YamlTree(None)
        self.problems: list[Diagnostic] = []
        self.count = 0

    def problem(self, node: Node, message: str, hint: str | None = None) -> None:
        mark = node.start_mark
        self.problems.append(Diagnostic(self.file, mark.line + 1, mark.column + 1, message, hint))

    def convert(self, node: Node, path: Path, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _LoadAbort(
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                f"document expands to more than {MAX_NODES} values",
                "aliases multiply content; this looks like an alias bomb",
            )
        if depth > 2 * MAX_DEPTH:
            raise _LoadAbort(
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                f"document nested too deeply (more than {MAX_DEPTH} levels)",
                "flatten the structure",
            )
        self.tree.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if node.tag not in _ALLOWED_TAGS:
            raise _LoadAbort(
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                f"YAML tag '{node.tag.replace('tag:yaml.org,2002:', '!!')}' is not allowed",
                "only plain values are accepted: strings, numbers, booleans, null, lists and mappings",
            )
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                raise _LoadAbort(node.start_mark.line + 1, node.start_mark.column + 1, "a list cannot carry a scalar tag")
            return [self.convert(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            if node.tag != _MAP:
                raise _LoadAbort(node.start_mark.line + 1, node.start_mark.column + 1, "a mapping cannot carry a scalar tag")
            return self.mapping(node, path, depth)
        raise _LoadAbort(node.start_mark.line + 1, node.start_mark.column + 1, "unsupported YAML node")

    def scalar(self, node: ScalarNode) -> Any:
        text = node.value
        tag = node.tag
        if tag == _NULL:
            return None
        if tag == _BOOL:
            if not _BOOL_RE.match(text):
                self.problem(node, f"invalid boolean {text!r}", "write true or false")
                return None
            return text.lower() == "true"
        if tag == _INT:
            clean = text.replace("_", "")
            try:
                if clean.startswith(("0o", "0x")):
                    return int(clean, 0)
                return int(clean, 10)
            except ValueError:
                self.problem(node, f"invalid integer {text!r}")
                return None
        if tag == _FLOAT:
            clean = text.replace("_", "").lower()
            try:
                if clean.endswith(".inf"):
                    return float("-inf") if clean.startswith("-") else float("inf")
                if clean == ".nan":
                    return float("nan")
                return float(clean)
            except ValueError:
                self.problem(node, f"invalid number {text!r}")
                return None
        if tag == _MERGE:
            return text
        return text  # str and timestamps: kept as written

    def mapping(self, node: MappingNode, path: Path, depth: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        first_seen: dict[Any, Position] = {}
        merges: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == _MERGE:
                merges.append((key_node, value_node))
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem(key_node, "a mapping key must be a plain value, not a list or mapping")
                continue
            if key_node.tag not in _ALLOWED_TAGS:
                raise _LoadAbort(
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                    f"YAML tag '{key_node.tag}' is not allowed",
                    "only plain values are accepted: strings, numbers, booleans, null, lists and mappings",
                )
            key = self.scalar(key_node)
            key_pos = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in first_seen:
                line, col = first_seen[key]
                self.problem(key_node, f"duplicate key {_describe(key)}", f"first defined at line {line}, column {col}")
                continue
            first_seen[key] = key_pos
            self.tree.key_positions[path + (key,)] = key_pos
            result[key] = self.convert(value_node, path + (key,), depth + 1)
        for key_node, value_node in merges:
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                if not isinstance(source, MappingNode):
                    self.problem(source, "a merge key '<<' needs a mapping (or a list of mappings)")
                    continue
                merged = self.mapping(source, path, depth + 1)
                for key, value in merged.items():
                    result.setdefault(key, value)
                    self.tree.key_positions.setdefault(path + (key,), (key_node.start_mark.line + 1, key_node.start_mark.column + 1))
        return result


_HINTS = {
    "mapping values are not allowed here": "quote a value that contains ': ', or check the indentation of this key",
    "could not find expected ':'": "each mapping entry needs 'key: value'; check indentation and quotes",
    "did not find expected key": "check the indentation of this line",
    "did not find expected '-' indicator": "check the indentation of this list item",
    "found undefined alias": "define the anchor (&name) before using it (*name)",
}


def _syntax_diagnostic(exc: yaml.YAMLError, text: str, file: str) -> Diagnostic:
    if isinstance(exc, yaml.reader.ReaderError):
        prefix = text[: exc.position] if isinstance(exc.position, int) else ""
        line = prefix.count("\n") + 1
        column = len(prefix) - (prefix.rfind("\n") + 1) + 1
        return Diagnostic(
            file,
            line,
            column,
            f"invalid YAML: control character U+{exc.character:04X} is not allowed",
            "remove it, or write it as an escape inside a double-quoted string",
        )
    assert isinstance(exc, yaml.MarkedYAMLError)
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    problem = (exc.problem or "syntax error").strip()
    if "'\\t'" in problem or "\t" in problem:
        return Diagnostic(file, line, column, "invalid YAML: tab character", "indent with spaces; YAML does not allow tabs for indentation")
    if problem == "but found another document":
        return Diagnostic(file, line, column, "invalid YAML: more than one document", "a spec file holds one YAML document; remove the extra '---'")
    hint = next((h for start, h in _HINTS.items() if problem.startswith(start)), None)
    if hint is None and exc.context and exc.context_mark is not None and exc.context_mark is not mark:
        hint = f"{exc.context.strip()} at line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1}"
    elif hint is None and exc.context:
        hint = exc.context.strip()
    return Diagnostic(file, line, column, f"invalid YAML: {problem}", hint)


def load_yaml_text(text: str, file: str = "<string>") -> YamlTree:
    """Parse one YAML document from ``text``; raise :class:`SpecError` listing every problem.

    An empty document gives ``YamlTree(data=None)``.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise SpecError([oversize_diagnostic(file, size)])
    if text.startswith("\ufeff"):
        text = text[1:]
    converter = _Converter(file)
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            return YamlTree(None)
        converter.tree.data = converter.convert(node, ())
    except _LoadAbort as abort:
        raise SpecError([Diagnostic(file, abort.line, abort.column, abort.message, abort.hint)]) from None
    except yaml.YAMLError as exc:
        raise SpecError([_syntax_diagnostic(exc, text, file)]) from None
    except RecursionError:
        raise SpecError([Diagnostic(file, 0, 0, "document nested too deeply", "flatten the structure")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if converter.problems:
        raise SpecError(converter.problems)
    return converter.tree


def oversize_diagnostic(file: str, size: int) -> Diagnostic:
    """The diagnostic for a file over :data:`MAX_BYTES` (checked before parsing)."""
    return Diagnostic(
        file,
        0,
        0,
        f"file is too large ({size / 1024 / 1024:.1f} MiB; the limit is {MAX_BYTES // 1024 // 1024} MiB)",
        "a spec is a few KiB; is this the right file?",
    )


def load_yaml_bytes(raw: bytes, file: str = "<string>") -> YamlTree:
    """Decode ``raw`` as UTF-8 (reporting the first bad byte's line and column), then parse it."""
    if len(raw) > MAX_BYTES:
        raise SpecError([oversize_diagnostic(file, len(raw))])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = exc.start
        line = raw.count(b"\n", 0, start) + 1
        line_start = raw.rfind(b"\n", 0, start) + 1
        column = len(raw[line_start:start].decode("utf-8", "replace")) + 1
        raise SpecError(
            [
                Diagnostic(
                    file,
                    line,
                    column,
                    f"file is not valid UTF-8: byte 0x{raw[start]:02x} at offset {start}",
                    "save the file as UTF-8",
                )
            ]
        ) from None
    return load_yaml_text(text, file)
