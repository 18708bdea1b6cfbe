"""Archon JSON configs -> archon pipeline specs.

Archon (Saad-Falcon et al.) stores one architecture per JSON file: ``{"name": ..., "layers": [...]}``
where a layer is a list of components (``[[{...}, ...], ...]``) or, in its older form, a mapping
``{"branches": n, "models": [{...}, ...]}``. The importer turns such a file into an archon
pipeline spec (a YAML text) that ``archon validate`` / ``archon run`` accept, or rejects it with
one line per defect, ``file.json:line:col: error: what (hint)``.

Three kinds of check, in this order, each reporting every problem it finds:

1. the text: UTF-8, valid JSON (``json``'s own line:col), no duplicate keys, not absurdly deep;
2. the keys and values Archon knows (see :mod:`archon.importers.archon_keys`): a misspelled key
   is an error with a suggestion; a key Archon itself never reads is dropped with a warning;
3. the layout rules Archon's runtime asserts (generators only in the first layer, a critic/
   ranker/verifier alone in its layer, something to work on for every non-generator, a
   unit-test evaluator only after a unit-test generator), then archon's own validator
   (:func:`archon.graph.validate_pipeline`, which runs the graph rules) on the result,
   with its findings mapped back to the Archon component they came from.

Warnings never stop an import; they are returned with the result and written as comments at the
top of the produced YAML.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from archon.errors import Diagnostic, ImportArchonError
from archon.importers.archon_keys import (
    ALL_COMPONENT_KEYS,
    COMPONENT_KEYS,
    COMPONENT_TYPES,
    LAYER_KEYS,
    REQUIRED_KEYS,
    SEARCH_CONFIG_KEYS,
    SINGLETON_TYPES,
    TOP_LEVEL_KEYS,
    KeyPolicy,
)
from archon.importers.validation import validate_imported
from archon.importers.json_positions import JsonPositions, line_col, scan_positions
from archon.importers.providers import PROVIDERS, UNSUPPORTED_MODEL_TYPES, model_entry, short_name
from archon.spec.schema import LOCAL_MODEL_NAME
from archon.util import did_you_mean, is_int

__all__ = [
    "DEFAULT_NUM_TESTS",
    "ERROR_CODES",
    "LOCAL_MAX_TOKENS",
    "MAX_CONFIG_BYTES",
    "ImportResult",
    "convert_archon",
    "import_archon",
    "import_archon_file",
    "import_archon_text",
]

#: Archon configs are a few kilobytes; anything past this is not one.
MAX_CONFIG_BYTES = 2_000_000
#: With ``local=True`` every max_tokens is capped here: the embedded model is small and slow.
LOCAL_MAX_TOKENS = 512
#: Tests to generate when an Archon unit-test generator sets no ``unit_test_cap``.
DEFAULT_NUM_TESTS = 5
#: Archon's reward-model ranker: not a chat model, so archon's rank cannot ask it anything.
PAIRRM = "llm-blender/PairRM"

Path = tuple[Any, ...]

#: Every class of error the importer reports (``Diagnostic.code``), with what it means.
ERROR_CODES: dict[str, str] = {
    "unreadable": "the file cannot be read, or is far too large for a config",
    "not-utf8": "the file is not UTF-8 text",
    "invalid-json": "the text is not valid JSON (position from Python's json parser)",
    "too-deep": "the JSON nests absurdly deep",
    "duplicate-key": "an object repeats a key (JSON readers silently keep the last)",
    "not-an-object": "the top level is not a JSON object",
    "search-config": "an Archon search (ITAS) config, not an architecture",
    "missing-layers": "no 'layers' key",
    "unknown-key": "a key Archon does not know: a misspelling (with a suggestion) or a foreign key",
    "bad-value": "a value of the wrong type or out of range",
    "custom-components": "the config relies on custom Python components",
    "empty-layer": "'layers' or one layer is empty",
    "bad-layer": "a layer is neither a list of components nor {\"models\": [...]}",
    "missing-type": "a component has no 'type'",
    "unknown-component": "a component type Archon does not have",
    "missing-key": "a key Archon's component reads unconditionally is missing",
    "reward-model-ranker": "a ranker that is Archon's PairRM reward model, not a chat model",
    "unsupported-model-type": "a model_type archon cannot reach without more information",
    "unknown-model-type": "a model_type Archon does not have",
    "mixed-layer": "a layer mixes kinds of component (Archon's runtime fails on it)",
    "not-alone": "a critic/ranker/verifier/unit-test component shares its layer (Archon asserts it is alone)",
    "unit-test-generator-late": "a unit_test_generator after the generators (its layer passes no candidates on)",
    "duplicate-unit-test-generator": "two unit_test_generators before the generators",
    "generator-after-first-layer": "a generator after the first layer (Archon asserts generators come first)",
    "no-candidates": "a component that needs candidates before any generator",
    "evaluator-without-tests": "a unit_test_evaluator with no unit_test_generator before it",
    "duplicate-evaluator": "a second unit_test_evaluator for the same tests",
    "no-generator": "the config has no generator layer",
    "archon-rule": "the converted pipeline fails archon's own validator (schema or graph rules)",
}


# ----------------------------------------------------------------------------- results


@dataclass
class ImportResult:
    """A converted config: the spec tree, its YAML text and the warnings raised on the way."""

    source: str
    tree: dict[str, Any]
    yaml: str
    warnings: list[Diagnostic] = field(default_factory=list)


# ----------------------------------------------------------------------------- public API


def import_archon_file(
    path: str | os.PathLike[str],
    *,
    model_map: Mapping[str, str] | None = None,
    local: bool = False,
) -> str:
    """Convert the Archon config at ``path`` into archon pipeline YAML (raises ImportArchonError)."""
    return import_archon(path, model_map=model_map, local=local).yaml


def import_archon(
    path: str | os.PathLike[str],
    *,
    model_map: Mapping[str, str] | None = None,
    local: bool = False,
    validate: bool = True,
) -> ImportResult:
    """Read, convert and (by default) validate one Archon config file."""
    source = os.fspath(path)
    try:
        size = os.path.getsize(source)
        if size > MAX_CONFIG_BYTES:
            raise ImportArchonError([Diagnostic(
                source, 0, 0, f"file is {size} bytes, larger than the {MAX_CONFIG_BYTES}-byte limit",
                "an Archon config is a few kilobytes of JSON; is this the right file?", code="unreadable")])
        with open(source, "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ImportArchonError([Diagnostic(source, 0, 0, f"cannot read the file: {exc.strerror or exc}", code="unreadable")]) from None
    return import_archon_text(_decode(raw, source), source, model_map=model_map, local=local, validate=validate)


def import_archon_text(
    text: str,
    source: str = "<string>",
    *,
    model_map: Mapping[str, str] | None = None,
    local: bool = False,
    validate: bool = True,
) -> ImportResult:
    """Convert Archon config text; ``source`` names it in messages."""
    data = _parse_json(text, source)
    try:
        positions = scan_positions(text)
    except ValueError as exc:  # nesting too deep
        raise ImportArchonError([Diagnostic(source, 1, 1, f"the JSON document is {exc}",
                                             "an Archon config nests four levels deep", code="too-deep")]) from None
    converter = _Converter(source, positions, model_map=model_map, local=local)
    for path, line, column in positions.duplicates:
        converter.errors.append(Diagnostic(
            source, line, column, f"duplicate key {_show_path_key(path)}",
            "JSON readers silently keep the last one; remove one of them", code="duplicate-key"))
    tree = converter.convert(data)
    converter.warnings.sort(key=lambda w: (w.line, w.column))
    text_out = render_yaml(tree, source, converter.warnings)
    if validate:
        validate_imported(text_out, converter.source, converter.origin, converter.position_of)
    return ImportResult(source, tree, text_out, list(converter.warnings))


def convert_archon(
    data: dict[str, Any],
    source: str = "<dict>",
    *,
    model_map: Mapping[str, str] | None = None,
    local: bool = False,
) -> dict[str, Any]:
    """Convert an already-parsed Archon config into an archon spec tree (plain dicts and lists).

    Without the text there are no positions: errors name the file and say where in words.
    The tree is not run through archon's validator; :func:`import_archon_text` does that.
    """
    return _Converter(source, JsonPositions(), model_map=model_map, local=local).convert(data)


# ----------------------------------------------------------------------------- text level


def _decode(raw: bytes, source: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = raw[: exc.start].decode("utf-8")
        line, column = line_col([0] + [i + 1 for i, c in enumerate(good) if c == "\n"], len(good))
        raise ImportArchonError([Diagnostic(
            source, line, column, f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x})",
            "JSON files are UTF-8; re-save the file as UTF-8", code="not-utf8")]) from None


def _parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        found = text[exc.pos: exc.pos + 12].split("\n", 1)[0]
        hint = f"found {found!r} here" if found.strip() else "the text ends too early"
        if exc.msg.startswith("Expecting ',' delimiter"):
            hint += "; a value must be followed by ',' or a closing bracket"
        raise ImportArchonError([Diagnostic(source, exc.lineno, exc.colno, f"invalid JSON: {exc.msg}", hint, code="invalid-json")]) from None
    except RecursionError:
        raise ImportArchonError([Diagnostic(source, 1, 1, "the JSON document is nested too deeply",
                                             "an Archon config nests four levels deep", code="too-deep")]) from None


# ----------------------------------------------------------------------------- conversion


def _show_path_key(path: Path) -> str:
    return repr(path[-1]) if path else "(top level)"


def _where(path: Path) -> str:
    """``layers[3][0]`` for ``("layers", 3, 0)``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "top level"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37] + "...")
    return "an array" if isinstance(value, list) else "an object"


# Value checks: key -> (predicate, what it must be).
_POS_INT = (lambda v: is_int(v) and v >= 1, "a positive integer")
_BOOL = (lambda v: isinstance(v, bool), "true or false")
_VALUE_RULES: dict[str, tuple[Any, str]] = {
    "type": (lambda v: isinstance(v, str), "a string"),
    "model": (lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string"),
    "model_type": (lambda v: isinstance(v, str), "a string"),
    "checkpoint": (lambda v: isinstance(v, str), "a string"),
    "temperature": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 2,
                    "a number from 0 to 2"),
    "max_tokens": _POS_INT,
    "samples": _POS_INT,
    "top_k": _POS_INT,
    "first_k": _POS_INT,
    "unit_test_cap": _POS_INT,
    "batch_num": _POS_INT,
    "ranker_batch_size": _POS_INT,
    "top_k_generations": _POS_INT,
    "fuse_generations_count": _POS_INT,
    "use_critiques": _BOOL,
    "length_control": _BOOL,
    "no_system": _BOOL,
    "remove_unit_tests_from_prompt": _BOOL,
    "first_pass": _BOOL,
    "ranker_config": (lambda v: isinstance(v, dict), "an object"),
}
#: Keys whose ``null`` means "not set" in Archon (it reads them with ``.get``).
_NULLABLE = {"top_k", "first_k", "unit_test_cap"}


@dataclass
class _Comp:
    """One Archon component: its type, settings and where it is in the file."""

    type: str
    cfg: dict[str, Any]
    path: Path
    layer: int  # 0-based Archon layer index


class _Converter:
    """Converts one Archon config; collects errors and warnings instead of stopping at the first."""

    def __init__(self, source: str, positions: JsonPositions, *, model_map: Mapping[str, str] | None,
                 local: bool) -> None:
        self.source = source
        self.positions = positions
        self.model_map: dict[str, str] = dict(model_map or {})
        if local:
            self.model_map.setdefault("*", LOCAL_MODEL_NAME)
        self.local = local
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self._warned: dict[str, int] = {}  # dedupe key -> index in self.warnings
        self._warn_count: dict[str, int] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self._model_names: dict[tuple[str, str], str] = {}
        #: (our layer index, index in layer) -> Archon path of the component it came from
        self.origin: dict[tuple[int, int], Path] = {}

    # -- reporting ---------------------------------------------------------------------------

    def _pos(self, path: Path, key: bool) -> tuple[int, int]:
        if not self.positions.values:
            return (0, 0)
        return self.positions.key(path) if key else self.positions.value(path)

    def position_of(self, path: Path | None) -> tuple[int, int]:
        """Where the value at ``path`` is; (1, 1) for no path, (0, 0) without positions."""
        if not self.positions.values:
            return (0, 0)
        return (1, 1) if path is None else self.positions.value(path)

    def _located(self, path: Path, message: str) -> str:
        # Without positions (convert_archon on a dict), say where in words.
        return message if self.positions.values else f"{_where(path)}: {message}"

    def error(self, code: str, path: Path, message: str, hint: str | None = None, *, key: bool = False) -> None:
        """Record an error; ``code`` names its class (see :data:`ERROR_CODES`)."""
        line, column = self._pos(path, key)
        self.errors.append(Diagnostic(self.source, line, column, self._located(path, message), hint, code=code))

    def warn(self, path: Path, message: str, hint: str | None = None, *, key: bool = True,
             dedupe: str | None = None) -> None:
        """Record a warning; repeats with the same ``dedupe`` key are counted on the first one."""
        if dedupe is not None and dedupe in self._warned:
            self._warn_count[dedupe] += 1
            index = self._warned[dedupe]
            first = self.warnings[index]
            base = first.message.split(" [", 1)[0]
            self.warnings[index] = Diagnostic(first.file, first.line, first.column,
                                               f"{base} [{self._warn_count[dedupe]} places; first here]",
                                               first.hint, "warning")
            return
        line, column = self._pos(path, key)
        self.warnings.append(Diagnostic(self.source, line, column, self._located(path, message), hint, "warning"))
        if dedupe is not None:
            self._warned[dedupe] = len(self.warnings) - 1
            self._warn_count[dedupe] = 1

    def fail_if_errors(self) -> None:
        if self.errors:
            raise ImportArchonError(self.errors)

    # -- the whole config --------------------------------------------------------------------

    def convert(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.error("not-an-object", (), f"an Archon config is a JSON object, found {_json_type(data)}",
                       'expected {"name": ..., "layers": [...]}')
            self.fail_if_errors()
        if "layers" not in data:
            search_keys = [k for k in data if k in SEARCH_CONFIG_KEYS]
            if search_keys:
                self.error("search-config", (search_keys[0],),
                           "not an Archon architecture config: this is an Archon search (ITAS) config "
                           f"({len(search_keys)} search settings such as {search_keys[0]!r}, no 'layers')",
                           "import architectures only; archon describes a search as a space, "
                           "see search_spaces/archon_itas.yaml and 'archon space'", key=True)
                self.fail_if_errors()  # its other keys are search settings, not typos: nothing more to say
            else:
                self.error("missing-layers", (), "missing 'layers': not an Archon architecture config",
                           'an Archon config looks like {"name": ..., "layers": [[{"type": "generator", ...}]]}')
        for key in data:
            if key not in TOP_LEVEL_KEYS:
                self._unknown_key((key,), key, TOP_LEVEL_KEYS, "an Archon config")
        if "name" in data and not isinstance(data["name"], str):
            self.error("bad-value", ("name",), f"'name' must be a string, found {_json_type(data['name'])}")
        if data.get("custom") not in (None, False):
            self.error("custom-components", ("custom",), "custom components cannot be imported",
                       "they are Python classes registered with Archon at run time; "
                       "rewrite them as archon components", key=True)
        self.fail_if_errors()

        layers = self._layers(data["layers"])
        self.fail_if_errors()
        for comps in layers:
            for comp in comps:
                self._check_component(comp)
        self.fail_if_errors()
        pipeline = self._pipeline(layers)
        self.fail_if_errors()

        name = data.get("name") or os.path.splitext(os.path.basename(self.source))[0]
        tree: dict[str, Any] = {
            "name": name,
            "description": f"Imported from the Archon config {os.path.basename(self.source)}",
        }
        if self.models:
            tree["models"] = self.models
        tree["pipeline"] = pipeline
        return tree

    def _unknown_key(self, path: Path, key: str, options: Any, owner: str, fallback: Any = ()) -> None:
        guess = did_you_mean(key, options) or did_you_mean(key, fallback)
        hint = f"did you mean {guess!r}?" if guess else f"known keys: {', '.join(sorted(options))}"
        self.error("unknown-key", path, f"unknown key {key!r} in {owner}", hint, key=True)

    # -- layers ------------------------------------------------------------------------------

    def _layers(self, value: Any) -> list[list[_Comp]]:
        if not isinstance(value, list):
            self.error("bad-value", ("layers",), f"'layers' must be an array of layers, found {_json_type(value)}")
            return []
        if not value:
            self.error("empty-layer", ("layers",), "'layers' is empty", "an architecture needs at least one generator layer")
            return []
        out: list[list[_Comp]] = []
        for i, layer in enumerate(value):
            lpath: Path = ("layers", i)
            items: list[tuple[Path, Any]]
            if isinstance(layer, list):
                items = [((*lpath, j), c) for j, c in enumerate(layer)]
            elif isinstance(layer, dict) and "models" in layer:
                items = self._branch_layer(layer, lpath)
            elif isinstance(layer, dict) and "type" in layer:
                self.warn(lpath, f"layers[{i}] is a bare component, not a list of components",
                          'imported as a one-component layer; Archon\'s own loader expects [...] or {"models": [...]}',
                          key=False, dedupe="bare-layer")
                items = [(lpath, layer)]
            elif isinstance(layer, dict):
                self.error("bad-layer", lpath, f"layers[{i}] is an object without 'models'",
                           'write a layer as [{component}, ...] or {"models": [{component}, ...]}')
                continue
            else:
                self.error("bad-layer", lpath, f"layers[{i}] must be an array of components, found {_json_type(layer)}")
                continue
            if not items:
                self.error("empty-layer", lpath, f"layers[{i}] is empty", "remove it, or put at least one component in it")
                continue
            comps: list[_Comp] = []
            for cpath, comp in items:
                if not isinstance(comp, dict):
                    self.error("bad-value", cpath, f"a component must be an object, found {_json_type(comp)}")
                    continue
                ctype = comp.get("type")
                if "type" not in comp:
                    self.error("missing-type", cpath, "component has no 'type'", f"one of: {', '.join(COMPONENT_TYPES)}")
                elif not isinstance(ctype, str):
                    self.error("bad-value", (*cpath, "type"), f"'type' must be a string, found {_json_type(ctype)}")
                elif ctype not in COMPONENT_TYPES:
                    guess = did_you_mean(ctype, COMPONENT_TYPES)
                    hint = (f"did you mean {guess!r}?" if guess else
                            f"Archon's component types: {', '.join(COMPONENT_TYPES)}; custom components cannot be imported")
                    self.error("unknown-component", (*cpath, "type"), f"unknown component type {ctype!r}", hint)
                else:
                    comps.append(_Comp(ctype, comp, cpath, i))
            out.append(comps)
        return out

    def _branch_layer(self, layer: dict[str, Any], lpath: Path) -> list[tuple[Path, Any]]:
        """The older layer form ``{"branches": n, "models": [...]}``."""
        for key in layer:
            if key not in LAYER_KEYS:
                self._unknown_key((*lpath, key), key, LAYER_KEYS, "a layer object")
        branches = layer.get("branches", 1)
        if not (is_int(branches) and branches >= 1):
            self.error("bad-value", (*lpath, "branches"), f"'branches' must be a positive integer, found {_json_type(branches)}")
        elif branches != 1:
            self.warn((*lpath, "branches"), f"'branches': {branches} is ignored",
                      "Archon's loader reads only 'models' from a layer object, so the layer runs once")
        models = layer["models"]
        if not isinstance(models, list):
            self.error("bad-value", (*lpath, "models"), f"'models' must be an array of components, found {_json_type(models)}")
            return []
        return [((*lpath, "models", j), c) for j, c in enumerate(models)]

    # -- one component -----------------------------------------------------------------------

    def _check_component(self, comp: _Comp) -> None:
        own = COMPONENT_KEYS[comp.type]
        for key, value in comp.cfg.items():
            kpath = (*comp.path, key)
            if key not in ALL_COMPONENT_KEYS:
                self._unknown_key(kpath, key, own, f"a {comp.type}", ALL_COMPONENT_KEYS)
                continue
            predicate, what = _VALUE_RULES[key]
            if not (predicate(value) or (value is None and key in _NULLABLE)):
                self.error("bad-value", kpath, f"{comp.type} '{key}' must be {what}, found {_json_type(value)}")
                continue
            if key not in own:
                self.warn(kpath, f"'{key}' on a {comp.type} is dropped",
                          f"Archon's {comp.type} never reads it", dedupe=f"foreign:{comp.type}:{key}")
                continue
            policy, reason = own[key]
            if policy is KeyPolicy.IGNORED:
                if key == "checkpoint" and value == "":
                    continue  # Archon's own empty placeholder: nothing to report
                self.warn(kpath, f"'{key}' on a {comp.type} is dropped", reason, dedupe=f"ignored:{comp.type}:{key}")
            elif policy is KeyPolicy.PARTIAL:
                dropped = (
                    (key == "samples" and value != 1)
                    or (key in ("no_system", "length_control") and value is True)
                )
                if dropped:
                    self.warn(kpath, f"'{key}': {_json_type(value)} on a {comp.type} is not carried over",
                              reason, dedupe=f"partial:{comp.type}:{key}")
        for key in REQUIRED_KEYS[comp.type]:
            if key == "max_tokens" and comp.cfg.get("model") == PAIRRM:
                continue  # Archon's PairRM ranker never builds a chat model
            if key not in comp.cfg:
                self.error("missing-key", comp.path, f"{comp.type} is missing {key!r}",
                           "Archon reads it unconditionally and would stop with a KeyError")
        if comp.type == "unit_test_evaluator" and comp.cfg.get("remove_unit_tests_from_prompt") is False:
            self.warn((*comp.path, "remove_unit_tests_from_prompt"),
                      "'remove_unit_tests_from_prompt': false is not carried over",
                      "archon never appends generated tests to the query, so there is nothing to remove")

    # -- models ------------------------------------------------------------------------------

    def model_ref(self, comp: _Comp) -> str | None:
        """The archon model name for a component, registering its ``models:`` entry."""
        model, model_type = comp.cfg["model"], comp.cfg["model_type"]
        mapped = self.model_map.get(model, self.model_map.get("*"))
        if mapped is not None:
            if mapped == LOCAL_MODEL_NAME:
                return LOCAL_MODEL_NAME
            return self._register(("mapped", mapped), short_name(mapped), _mapped_entry(mapped))
        if model == PAIRRM:
            self.error("reward-model-ranker", (*comp.path, "model"),
                       f"{PAIRRM!r} is a pairwise reward model, not a chat model: archon's rank asks a chat model "
                       "to order the candidates",
                       "name a chat model as the ranker, or import with --local / a model_map")
            return None
        if model_type in UNSUPPORTED_MODEL_TYPES:
            self.error("unsupported-model-type", (*comp.path, "model_type"), f"model_type {model_type!r} cannot be imported: "
                       f"{UNSUPPORTED_MODEL_TYPES[model_type]}", "import with --local or a model_map")
            return None
        if model_type not in PROVIDERS:
            guess = did_you_mean(model_type, PROVIDERS) if model_type else None
            known = ", ".join(PROVIDERS)
            hint = f"did you mean {guess!r}? known: {known}" if guess else f"known model types: {known}"
            shown = repr(model_type) if model_type else "'' (empty)"
            self.error("unknown-model-type", (*comp.path, "model_type"), f"unknown model_type {shown} for model {model!r}", hint)
            return None
        return self._register((model_type, model), short_name(model), model_entry(model, model_type))

    def _register(self, key: tuple[str, str], base: str, entry: dict[str, Any]) -> str:
        if key in self._model_names:
            return self._model_names[key]
        name = base
        if name in self.models or name == LOCAL_MODEL_NAME:
            provider = PROVIDERS.get(key[0])
            name = f"{base}-{(provider.prefix or provider.kind) if provider else 'mapped'}"
        n = 2
        while name in self.models:
            name, n = f"{base}-{n}", n + 1
        self.models[name] = entry
        self._model_names[key] = name
        return name

    def llm(self, comp: _Comp) -> dict[str, Any]:
        """Model and sampling settings shared by every model-calling component."""
        cfg = comp.cfg
        max_tokens = cfg.get("max_tokens", LOCAL_MAX_TOKENS)
        if self.local:
            max_tokens = min(max_tokens, LOCAL_MAX_TOKENS)
        return {"model": self.model_ref(comp), "temperature": cfg["temperature"], "max_tokens": max_tokens}

    # -- layout ------------------------------------------------------------------------------

    def _pipeline(self, layers: list[list[_Comp]]) -> list[list[dict[str, Any]]]:
        out: list[list[dict[str, Any]]] = []
        have_candidates = False
        critiques = False          # critiques are attached to the current candidates
        tests: _Comp | None = None  # a unit_test_generator whose tests are still to be evaluated
        tests_used = False

        def emit(nodes: list[tuple[dict[str, Any], _Comp]]) -> None:
            for j, (_node, comp) in enumerate(nodes):
                self.origin[(len(out), j)] = comp.path
            out.append([node for node, _ in nodes])

        for i, comps in enumerate(layers):
            if not comps:
                continue
            kinds = [c.type for c in comps]
            first = comps[0]
            odd = next((c for c in comps if c.type != first.type), None)
            if odd is not None:
                self.error("mixed-layer", odd.path, f"layers[{i}] mixes {first.type} and {odd.type} components",
                           "Archon gives every component of a layer the same inputs, so a layer holds one kind "
                           "of component; split them into separate layers")
                have_candidates = have_candidates or "generator" in kinds  # no follow-on errors
                continue
            kind = kinds[0]
            if kind in SINGLETON_TYPES and len(comps) > 1:
                self.error("not-alone", comps[1].path, f"a {kind} must be alone in its layer; layers[{i}] has {len(comps)}",
                           "Archon asserts this at run time; keep one, or put each in its own layer")
                continue
            if kind == "unit_test_generator":
                if have_candidates:
                    self.error("unit-test-generator-late", first.path, f"unit_test_generator in layers[{i}] comes after the generators",
                               "its layer passes no candidates on, so the next layer would receive none; "
                               "put it in the first layer, before the generators")
                elif tests is not None:
                    self.error("duplicate-unit-test-generator", first.path, "a second unit_test_generator before the generators",
                               "the later one replaces the earlier one's tests; keep one")
                else:
                    tests = first
                continue
            if kind == "generator":
                if have_candidates:
                    self.error("generator-after-first-layer", first.path, f"generator in layers[{i}] after candidates already exist",
                               "Archon runs generators only in the first layer (its generation stage); "
                               "move them into one layer")
                    continue
                emit([(self._generate(c), c) for c in comps])
                have_candidates = True
                continue
            if not have_candidates:
                self.error("no-candidates", first.path, f"{kind} in layers[{i}] has no candidates to work on",
                           "the first layer (after an optional unit_test_generator) must hold the generators")
                continue
            if tests is not None and not tests_used and kind != "unit_test_evaluator":
                emit([(self._unit_test(tests, None), tests)])
                tests_used = True
            if kind == "critic":
                emit([({"type": "critique", **self.llm(first)}, first)])
                critiques = True
            elif kind == "ranker":
                emit([(self._rank(first, critiques), first)])
            elif kind == "fuser":
                emit([(self._fuse(c, critiques), c) for c in comps])
                critiques = False
            elif kind == "verifier":
                emit([({"type": "verify", **self.llm(first), "fallback": "keep_all"}, first)])
                if first.cfg.get("first_k"):
                    # Archon stops at the first k verified candidates: keep k of those that passed.
                    emit([({"type": "select", "by": "verdict", "top_k": first.cfg["first_k"]}, first)])
            elif kind == "unit_test_evaluator":
                if tests is None:
                    self.error("evaluator-without-tests", first.path, f"unit_test_evaluator in layers[{i}] without a unit_test_generator before it",
                               "there are no tests to evaluate; put a unit_test_generator in the first layer")
                    continue
                if tests_used:
                    self.error("duplicate-evaluator", first.path, "a second unit_test_evaluator for the same tests",
                               "archon's unit_test generates and evaluates its own tests once; keep one evaluator")
                    continue
                emit([(self._unit_test(tests, first), first)])
                tests_used = True
                critiques = False
        if not self.errors and not have_candidates:
            self.error("no-generator", ("layers",), "no generator layer: this config never produces candidates",
                       "an Archon architecture starts with a layer of generators")
        if tests is not None and not tests_used and have_candidates:
            emit([(self._unit_test(tests, None), tests)])
        return out

    def _generate(self, comp: _Comp) -> dict[str, Any]:
        return {"type": "generate", **self.llm(comp), "samples": comp.cfg.get("samples") or 1}

    def _rank(self, comp: _Comp, critiques: bool) -> dict[str, Any]:
        wanted = bool(comp.cfg.get("use_critiques", False))
        if wanted and not critiques:
            self.warn((*comp.path, "use_critiques"), "'use_critiques': true but no critic runs before this ranker",
                      "imported as use_critiques: false")
        return {"type": "rank", **self.llm(comp), "top_k": comp.cfg["top_k"], "use_critiques": wanted and critiques}

    def _fuse(self, comp: _Comp, critiques: bool) -> dict[str, Any]:
        return {"type": "fuse", **self.llm(comp), "samples": comp.cfg.get("samples") or 1, "use_critiques": critiques}

    def _unit_test(self, gen: _Comp, evaluator: _Comp | None) -> dict[str, Any]:
        node: dict[str, Any] = {"type": "unit_test", **self.llm(gen), "mode": "judge"}
        cap = gen.cfg.get("unit_test_cap")
        node["num_tests"] = cap if cap else DEFAULT_NUM_TESTS
        if not cap:
            self.warn(gen.path, "unit_test_generator sets no 'unit_test_cap'",
                      f"Archon keeps however many tests the model writes; archon generates {DEFAULT_NUM_TESTS}",
                      key=False)
        if evaluator is None:
            self.warn(gen.path, "unit_test_generator without a unit_test_evaluator",
                      "Archon only adds the tests to the query; archon's unit_test also judges every candidate "
                      "against them (one extra call per candidate) and keeps them all, ordered by tests passed",
                      key=False)
            return node
        ecfg = evaluator.cfg
        if (ecfg["model"], ecfg["model_type"]) != (gen.cfg["model"], gen.cfg["model_type"]) and not self.model_map:
            self.warn((*evaluator.path, "model"),
                      f"the unit-test evaluator's model {ecfg['model']!r} differs from the generator's "
                      f"{gen.cfg['model']!r}",
                      "archon's unit_test uses one model for both steps: the generator's")
        first_k = ecfg.get("first_k") or (1 if ecfg.get("first_pass") else None)
        top_k = ecfg.get("top_k")
        if first_k and top_k and top_k != first_k:
            self.warn((*evaluator.path, "top_k"),
                      f"'top_k': {top_k} applies in Archon only when fewer than {first_k} candidate(s) pass every test",
                      f"imported as top_k: {first_k}")
        keep = first_k or top_k
        if keep:
            node["top_k"] = keep
        return node


def _mapped_entry(model: str) -> dict[str, Any]:
    """A ``models:`` entry for a model_map target given as a litellm id."""
    entry: dict[str, Any] = {"kind": "litellm", "model": model}
    prefix = model.split("/", 1)[0]
    env = {p.prefix: p.api_key_env for p in PROVIDERS.values() if p.prefix}.get(prefix)
    if env:
        entry["api_key_env"] = env
    return entry


# ----------------------------------------------------------------------------- YAML output


def render_yaml(tree: dict[str, Any], source: str, warnings: list[Diagnostic]) -> str:
    """The spec as YAML: components one per line, a header naming the source and the warnings."""

    class _Dumper(yaml.SafeDumper):
        pass

    def _mapping(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
        flow = all(not isinstance(v, (dict, list)) for v in data.values())
        return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)

    _Dumper.add_representer(dict, _mapping)
    body = yaml.dump(tree, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096,
                     default_flow_style=False)
    header = [f"# Imported from the Archon config {os.path.basename(source)} by 'archon import-archon'.",
              "# API keys are read from the environment variables named by api_key_env; none is stored here."]
    if warnings:
        header.append("# Import warnings:")
        header.extend(f"#   {w.format()}" for w in warnings)
    return "\n".join(header) + "\n" + body
