"""Text normalisation and answer extraction shared by scorers and built-in tasks.

Kept free of any benchmark knowledge: each function turns free model text into a comparable
string (or ``None`` when there is nothing to compare), so vote and scorers agree on what "the
same answer" means.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

__all__ = [
    "normalize",
    "strip_lead_in",
    "first_answer_line",
    "extract_boxed",
    "extract_number",
    "parse_number",
    "extract_choice",
    "extract_code",
]

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower case, no diacritics, no punctuation, single spaces, no leading article.

    Apostrophes vanish without a gap ("Nuku'alofa" == "Nukualofa"); other punctuation becomes a
    space ("Port-au-Prince" == "Port au Prince", "Washington, D.C." == "Washington DC").
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower().replace("&", " and ")
    text = re.sub(r"['\u2019`]", "", text)
    text = re.sub(r"(?<=\b\w)\.(?=\w\.)", "", text)  # d.c. -> dc
    text = _PUNCT.sub(" ", text).replace("_", " ")
    text = _SPACES.sub(" ", text).strip()
    text = re.sub(r"\b(\w) (?=\w\b)", r"\1", text)  # "d c" -> "dc", "u s a" -> "usa"
    text = re.sub(r"^(the|a|an) ", "", text)
    return text


_LEAD_INS = [
    r"^\s*(?:final\s+)?answer\s*[:\-]\s*",
    r"^\s*(?:the\s+)?(?:final\s+)?answer\s+is\s*[:\-]?\s*",
    r"^\s*(?:the\s+)?capital(?:\s+city)?(?:\s+of\s+.+?)?\s+is\s+",
    r"^\s*(?:the\s+)?(?:opposite|antonym)\s+(?:word\s+)?(?:of|for|to)\s+.+?\s+is\s+",
    r"^\s*(?:opposite|antonym|capital)\s*[:\-]\s*",
    r"^\s*it\s+is\s+",
    r"^\s*sure[,!.]?\s+",
]


def strip_lead_in(text: str) -> str:
    """Remove a leading "The answer is", "The capital of X is", "Antonym:" ... phrase."""
    out = text
    for _ in range(3):
        before = out
        for pattern in _LEAD_INS:
            out = re.sub(pattern, "", out, count=1, flags=re.IGNORECASE)
        if out == before:
            break
    return out


def first_answer_line(text: str) -> str | None:
    """The first non-empty line, lead-in removed, cut at the end of its first sentence.

    A full stop that belongs to an abbreviation ("D.C.", "St. John's") does not end the sentence.
    """
    for raw in text.strip().splitlines():
        line = raw.strip().strip("*#>").strip()
        if not line:
            continue
        line = strip_lead_in(line)
        cut = re.search(r"(?<!\b[A-Za-z])[.!?](?:\s|$)", line)
        if cut:
            line = line[: cut.start()]
        line = line.strip().strip("\"'`*").strip()
        return line or None
    return None


def extract_boxed(text: str) -> str | None:
    r"""Content of the last ``\boxed{...}`` (or ``\fbox{...}``), braces matched by counting,
    so ``\boxed{\frac{1}{2}}`` gives ``\frac{1}{2}``. ``None`` when absent or unbalanced."""
    last = None
    for macro in ("\\boxed", "\\fbox"):
        start = 0
        while True:
            i = text.find(macro, start)
            if i < 0:
                break
            j = i + len(macro)
            while j < len(text) and text[j] == " ":
                j += 1
            if j < len(text) and text[j] == "{":
                depth, k = 0, j
                while k < len(text):
                    if text[k] == "{" and text[k - 1] != "\\":
                        depth += 1
                    elif text[k] == "}" and text[k - 1] != "\\":
                        depth -= 1
                        if depth == 0:
                            if last is None or i > last[0]:
                                last = (i, text[j + 1 : k])
                            break
                    k += 1
            start = j
    return None if last is None else last[1].strip()


_NUMBER = re.compile(r"(?<![\w.])[-−]?\$?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?%?")


def parse_number(text: str) -> Decimal | None:
    """``"1,000"`` -> 1000, ``"$3.50"`` -> 3.5, ``"12 km"`` -> 12, ``"3/4"`` -> 0.75, ``"50%"`` -> 50.

    Units and currency signs are dropped; a percentage stays in percent (the reference is
    usually written the same way). ``None`` when ``text`` holds no number.
    """
    m = _NUMBER.search(text.replace("\u2212", "-"))
    if not m:
        return None
    token = m.group(0).replace("$", "").replace(",", "").replace(" ", "").rstrip("%").replace("−", "-")
    try:
        if "/" in token:
            num, den = token.split("/")
            return Decimal(num) / Decimal(den) if Decimal(den) != 0 else None
        return Decimal(token)
    except (InvalidOperation, ArithmeticError):
        return None


def extract_number(text: str) -> str | None:
    """The answer number in free text: after ``####``, a ``\\boxed{}``, "answer is", or else the
    last number. Returned as a canonical string ("1,000.50" -> "1000.5")."""
    candidates: list[str] = []
    if "####" in text:
        candidates.append(text.rsplit("####", 1)[1])
    boxed = extract_boxed(text)
    if boxed is not None:
        candidates.append(boxed)
    m = list(re.finditer(r"answer\s*(?:is|:|=)\s*(.+)", text, flags=re.IGNORECASE))
    if m:
        candidates.append(m[-1].group(1))
    for chunk in candidates:
        value = parse_number(chunk)
        if value is not None:
            return canonical_number(value)
    found = list(_NUMBER.finditer(text.replace("\u2212", "-")))
    for match in reversed(found):
        value = parse_number(match.group(0))
        if value is not None:
            return canonical_number(value)
    return None


def canonical_number(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


_CHOICE_PATTERNS = [
    r"answer\s*(?:is|:)?\s*(?:option\s*)?[\(\[]?\s*([A-J])\b[\)\]]?",
    r"\(\s*([A-J])\s*\)\s*(?:is\s+(?:the\s+)?correct|is\s+right)",
    r"\b(?:option|choice)\s*[\(\[]?([A-J])\b",
    r"^\s*[\(\[]?([A-J])[\)\].:]?(?:\s|$)",
    r"\*\*\s*\(?([A-J])\)?\s*\*\*",
]


def extract_choice(text: str, letters: str = "ABCD") -> str | None:
    """The chosen letter from a multiple-choice answer, robust to explanations around it.

    Prefers an explicit "answer is (C)" (the last one), then "(B) is correct", "option B", a
    line that starts with the letter, and finally a lone letter in the text.
    """
    valid = set(letters.upper())
    for pattern in _CHOICE_PATTERNS:
        hits = [h.upper() for h in re.findall(pattern, text, flags=re.IGNORECASE | re.MULTILINE)]
        hits = [h for h in hits if h in valid]
        if hits:
            if pattern.startswith("^"):
                return hits[0]
            return hits[-1]
    lone = [h for h in re.findall(r"(?<![\w'])([A-J])(?![\w'])", text) if h in valid]
    # A lone "A" is often the English article: only trust lone letters when just one letter occurs.
    if lone and len(set(lone)) == 1:
        return lone[0]
    return None


_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_code(text: str) -> str:
    """Python code from a response: the fenced blocks (python-tagged first; several blocks are
    joined), else the text itself with obvious prose lines removed."""
    blocks = _FENCE.findall(text)
    if blocks:
        python = [body for lang, body in blocks if lang.lower() in ("python", "py", "python3")]
        chosen = python or [body for lang, body in blocks if not lang] or [b for _, b in blocks]
        return "\n\n".join(b.rstrip() for b in chosen).strip("\n") + "\n"
    return text.strip("\n") + "\n"
