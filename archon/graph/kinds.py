"""What each component kind consumes and produces: the typed interface the graph rules check.

Data flowing along an edge is a list of *candidates*; annotations ride on candidates keyed by
candidate id. A kind either **creates** new candidates (generate, fuse, refine, vote: annotations of
its inputs never reach its outputs) or **passes** its input candidates on, possibly filtered, and
adds annotations of its own (critique, rank, verify, unit_test, select). The query itself reaches
every node implicitly, so it is not an edge type.

This table is data, shared by the composition rules, the static cost model and the docs, so the
three can never disagree about a kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ANNOTATIONS", "KINDS", "Kind", "required_annotations"]

#: Annotation types a candidate can carry.
ANNOTATIONS = ("critiques", "scores", "verdicts", "tests")


@dataclass(frozen=True)
class Kind:
    """The interface of one component kind.

    ``source``: takes no candidates (only the query). ``creates``: outputs are new candidates.
    ``adds``: annotations it attaches to the candidates it outputs. ``one_call_over_all``: a single
    prompt holds every input candidate (so the context limit applies to their sum).
    """

    name: str
    source: bool
    creates: bool
    adds: tuple[str, ...]
    one_call_over_all: bool
    summary: str


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("generate", True, True, (), False, "query -> new candidates"),
        Kind("critique", False, False, ("critiques",), False, "candidates -> same candidates + critiques"),
        Kind("rank", False, False, ("scores",), True, "candidates (+critiques) -> top_k of them + rank scores"),
        Kind("fuse", False, True, (), True, "candidates (+critiques) -> new fused candidates"),
        Kind("verify", False, False, ("verdicts",), False, "candidates -> those that pass + verdicts"),
        Kind("unit_test", False, False, ("tests", "scores"), False, "query + candidates -> candidates + tests, pass rates"),
        Kind("vote", False, True, (), False, "candidates -> one majority answer"),
        Kind("refine", False, True, (), False, "candidates -> revised candidates"),
        Kind("select", False, False, ("scores",), False, "candidates (+verdicts/tests) -> top_k of them"),
    )
}


def required_annotations(component: Any) -> dict[str, str]:
    """Annotations ``component`` needs on every input candidate -> the field that asks for them.

    ``use_critiques`` defaults to None ("use critiques when an upstream critic wrote them");
    only ``use_critiques: true`` makes a critic mandatory.
    """
    kind = component.type
    needs: dict[str, str] = {}
    if kind in ("rank", "fuse") and component.use_critiques is True:
        needs["critiques"] = "use_critiques"
    if kind == "select" and component.by == "verdict":
        needs["verdicts"] = "by"
    if kind == "select" and component.by == "tests":
        needs["tests"] = "by"
    return needs
