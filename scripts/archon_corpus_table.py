"""Import every Archon config of a corpus and print the outcome tables for docs/archon-compat.md.

    python scripts/archon_corpus_table.py [CORPUS_DIR]

CORPUS_DIR defaults to ``../shared/archon-configs`` beside the repository root. The output is
Markdown: counts per outcome class, every rejected file with its errors, and how often each
warning occurred. Paste it into the docs when the importer or the corpus changes.
"""

from __future__ import annotations

import collections
import re
import sys
from pathlib import Path

from archon.errors import ImportArchonError
from archon.importers import import_archon
from archon.importers.archon_json import ERROR_CODES

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "archon-configs"


def _warning_kind(message: str) -> str:
    """A warning's message without its per-file details (counts, quoted model names, numbers)."""
    message = message.split(" [", 1)[0]
    message = re.sub(r"model '[^']*'", "model '…'", message)
    message = re.sub(r"generator's '[^']*'", "generator's '…'", message)
    return re.sub(r"\b\d+\b", "N", message)


def main(argv: list[str]) -> int:
    corpus = Path(argv[1]) if len(argv) > 1 else DEFAULT_CORPUS
    if not corpus.is_dir():
        print(f"{corpus}: error: no such directory", file=sys.stderr)
        return 2
    files = sorted(corpus.rglob("*.json"))
    outcomes: collections.Counter[str] = collections.Counter()
    rejected: list[tuple[str, ImportArchonError]] = []
    warnings: collections.Counter[str] = collections.Counter()
    warned_files = 0
    local_ok = 0
    for path in files:
        name = path.relative_to(corpus).as_posix()
        try:
            result = import_archon(path)
        except ImportArchonError as exc:
            outcomes[exc.diagnostics[0].code] += 1
            rejected.append((name, exc))
        else:
            outcomes["converted"] += 1
            warned_files += bool(result.warnings)
            for kind in {_warning_kind(w.message) for w in result.warnings}:
                warnings[kind] += 1
        try:
            import_archon(path, local=True)
            local_ok += 1
        except ImportArchonError:
            pass

    out = print
    out(f"Corpus: {len(files)} JSON files. Converted: {outcomes['converted']} "
        f"({warned_files} of them with warnings); rejected: {len(rejected)}. "
        f"With `--local`: {local_ok} convert.\n")
    out("| outcome | files | meaning |")
    out("|---|---:|---|")
    out(f"| converted | {outcomes['converted']} | validates with `archon validate` and compiles |")
    for code, count in sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0])):
        if code != "converted":
            out(f"| rejected: `{code}` | {count} | {ERROR_CODES.get(code, '')} |")
    out("\nRejected files (first error; `+N` = further errors of the same file):\n")
    out("| file | error |")
    out("|---|---|")
    for name, exc in rejected:
        first = exc.diagnostics[0]
        shown = first.format().split(": error: ", 1)[1].replace("|", "\\|")
        more = f" +{len(exc.diagnostics) - 1}" if len(exc.diagnostics) > 1 else ""
        out(f"| `{name}` | `{first.line}:{first.column}` `{first.code}`: {shown}{more} |")
    out("\nWarnings on converted files (number of files with each):\n")
    out("| warning | files |")
    out("|---|---:|")
    for kind, count in sorted(warnings.items(), key=lambda kv: (-kv[1], kv[0])):
        out(f"| {kind} | {count} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
