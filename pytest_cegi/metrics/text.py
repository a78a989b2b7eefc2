"""Text normalisation shared by the string-matching metrics.

Each function is documented in docs/metrics.md; changing one changes scores, so treat
them as part of the public contract.
"""
from __future__ import annotations

import re
import string
from typing import Callable

_WS = re.compile(r"\s+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT_TABLE = str.maketrans("", "", string.punctuation)


def normalize_basic(text: str) -> str:
    """Case-fold, trim, and collapse runs of whitespace to one space."""
    return _WS.sub(" ", text.casefold()).strip()


def normalize_squad(text: str) -> str:
    """SQuAD-style: lower-case, drop ASCII punctuation, drop a/an/the, collapse whitespace."""
    text = text.lower().translate(_PUNCT_TABLE)
    text = _ARTICLES.sub(" ", text)
    return _WS.sub(" ", text).strip()


def normalize_none(text: str) -> str:
    return text


NORMALIZERS: dict[str, Callable[[str], str]] = {
    "squad": normalize_squad,
    "basic": normalize_basic,
    "none": normalize_none,
}

# --- VQA answers --------------------------------------------------------------------

_NUMBER_WORDS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}
_DIGIT_COMMA = re.compile(r"(?<=\d),(?=\d)")      # "1,000" -> "1000"
_NON_DECIMAL_PERIOD = re.compile(r"(?<!\d)\.|\.(?!\d)")  # keep "2.5", drop "dog."
# Apostrophes stay so that "don't" and "dont" remain distinguishable from "do not".
_VQA_PUNCT = re.compile(r"[^\w\s'.]")


def normalize_vqa(text: str) -> str:
    """VQA-style answer normalisation (close to, not identical with, the official script).

    Lower-case; drop thousands separators; drop periods that are not decimal points;
    turn other punctuation except apostrophes into spaces; number words zero..ten to
    digits ("none" counts as 0, as in VQA); drop articles a/an/the; collapse whitespace.
    """
    text = text.lower().strip()
    text = _DIGIT_COMMA.sub("", text)
    text = _NON_DECIMAL_PERIOD.sub("", text)
    text = _VQA_PUNCT.sub(" ", text)
    words = [_NUMBER_WORDS.get(w, w) for w in text.split() if w not in ("a", "an", "the")]
    return " ".join(words)


# --- tokenising and sentence splitting ----------------------------------------------

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def caption_tokens(text: str) -> list[str]:
    """Lower-cased alphanumeric words (apostrophe contractions kept); for CIDEr-D."""
    return _WORD.findall(text.lower())


# A sentence ends at . ! or ? (optionally followed by closing quotes/brackets) and
# whitespace. No abbreviation list: this replaces nltk's punkt, which needs a download.
_SENT_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"')\]])\s+")


def split_sentences(text: str) -> list[str]:
    """Split text into sentences: on newlines when present, otherwise on end punctuation."""
    if "\n" in text.strip():
        parts = text.splitlines()
    else:
        parts = _SENT_END.split(text)
    return [p.strip() for p in parts if p.strip()]
