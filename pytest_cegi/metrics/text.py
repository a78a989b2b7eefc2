"""Text normalisation shared by the string-matching metrics.

Each function is documented in docs/metrics.md; changing one changes scores, so treat
them as part of the public contract.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable

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
# The rules of the official VQA evaluation as its repository has them today
# (GT-Vision-Lab/VQA, PythonEvaluationTools/vqaEvaluation/vqaEval.py, the Python 3
# version), reproduced from its documented behaviour: processPunctuation, then
# processDigitArticle. The first, Python 2 version of that script had another mark list
# (with ":" and "'", without "-", "!", "{" and "}") and curly apostrophes in its
# contraction table; tests/metrics/test_vqa_official.py checks against today's.

# Marks handled by the punctuation rule. Everything else (":", "'", "%", "#", "$", "&",
# curly quotes, ...) is kept, as in the official script.
_VQA_MARKS = (
    ";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!",
)  # fmt: skip
_DIGIT_COMMA_DIGIT = re.compile(r"\d,\d")
# A period not followed by a digit: "dog." loses it, "2.5" and ".5" keep theirs.
_PERIOD = re.compile(r"\.(?!\d)")
# The official script passes re.UNICODE (= 32) where re.sub takes `count`, so at most 32
# periods are removed per answer; kept for exactness.
_PERIOD_LIMIT = 32

_NUMBER_WORDS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
_ARTICLES_VQA = frozenset({"a", "an", "the"})

# The official contraction table: it maps a word written without (some of) its
# apostrophes to the contracted form, straight apostrophes throughout. The entries whose
# key is the form with every apostrophe removed are derived from the forms below.
_CONTRACTED = [
    "ain't", "aren't", "can't", "could've", "couldn't", "didn't", "doesn't", "don't", "hadn't",
    "hasn't", "haven't", "he'd", "he's", "how'd", "how'll", "how's", "isn't", "it'd", "it'll",
    "ma'am", "mightn't", "might've", "mustn't", "must've", "needn't", "not've", "o'clock",
    "oughtn't", "shan't", "should've", "shouldn't", "somebody'll", "somebody's", "someone'd",
    "someone'll", "someone's", "something'd", "something'll", "that's", "there'd", "there're",
    "there's", "they'd", "they'll", "they're", "they've", "'twas", "wasn't", "we've", "weren't",
    "what'll", "what're", "what's", "what've", "when's", "where'd", "where's", "where've",
    "who'd", "who'll", "who's", "who've", "why'll", "why're", "why's", "won't", "would've",
    "wouldn't", "y'all", "you'd", "you'll", "you're", "you've",
]  # fmt: skip
# The remaining entries, spelled out: forms with two or more apostrophes, whose keys keep
# some of them. Entries that can never fire are left out: capitalised keys (words are
# lower-cased first) and entries that map a word to itself.
_CONTRACTION_VARIANTS = {
    "couldn't've": ("couldn'tve", "couldnt've"),
    "hadn't've": ("hadnt've", "hadn'tve"),
    "he'd've": ("hed've", "he'dve"),
    "it'd've": ("itd've", "it'dve"),
    "mightn't've": ("mightnt've", "mightn'tve"),
    "'ow's'at": ("ow's'at", "'ows'at", "'ow'sat"),
    "she'd've": ("shed've", "she'dve"),
    "shouldn't've": ("shouldnt've", "shouldn'tve"),
    "somebodyd": ("somebody'd",),  # sic: the official table maps this one backwards
    "somebody'd've": ("somebodyd've", "somebody'dve"),
    "someone'd've": ("someoned've", "someone'dve"),
    "something'd've": ("somethingd've", "something'dve"),
    "there'd've": ("thered've", "there'dve"),
    "they'd've": ("theyd've", "they'dve"),
    "we'd've": ("wed've", "we'dve"),
    "who'd've": ("whod've", "who'dve"),
    "wouldn't've": ("wouldnt've", "wouldn'tve"),
    "y'all'll": ("yall'll", "y'allll"),
    "y'all'd've": ("yall'd've", "y'alld've", "y'all'dve"),
    "you'd've": ("youd've", "you'dve"),
}


def _contraction_table() -> dict[str, str]:
    table = {form.replace("'", ""): form for form in _CONTRACTED}
    table.update({key: form for form, keys in _CONTRACTION_VARIANTS.items() for key in keys})
    return table


_CONTRACTIONS = _contraction_table()


def vqa_punctuation(text: str) -> str:
    """The official `processPunctuation`.

    A mark from the list is deleted when it touches a space somewhere in the text, or
    when the text contains a digit-comma-digit ("1,000") anywhere; otherwise it becomes
    a space ("red/white" -> "red white", "hot-dog" -> "hot dog"). Then periods not
    followed by a digit go.
    """
    present = [mark for mark in _VQA_MARKS if mark in text]  # most answers have none
    out = text
    if present:
        delete = _DIGIT_COMMA_DIGIT.search(text) is not None
        for mark in present:
            # The test looks at the original text, mark by mark, as the official script does.
            touches_space = f"{mark} " in text or f" {mark}" in text
            out = out.replace(mark, "" if delete or touches_space else " ")
    return _PERIOD.sub("", out, count=_PERIOD_LIMIT) if "." in out else out


def vqa_digits_articles(text: str) -> str:
    """The official `processDigitArticle`: lower-case and split on whitespace; number words
    zero..ten become digits ("none" -> "0"); a/an/the are dropped; contractions are
    restored from the official table ("dont" -> "don't")."""
    words = (_NUMBER_WORDS.get(w, w) for w in text.lower().split())
    return " ".join(_CONTRACTIONS.get(w, w) for w in words if w not in _ARTICLES_VQA)


def normalize_vqa(text: str) -> str:
    """An answer as the official VQA evaluation normalises it.

    Newlines and tabs become spaces, the ends are trimmed, then `vqa_punctuation` and
    `vqa_digits_articles`. Python 3 string semantics (Unicode lower-casing and whitespace).
    """
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return vqa_digits_articles(vqa_punctuation(text))


# --- tokenising and sentence splitting ----------------------------------------------

# Chinese and Japanese are written without spaces between words. Without a word
# segmenter (jieba, MeCab: extra dependencies and dictionaries), one character per token
# is the usual fallback, and it still gives partial credit where whole runs would not.
_CJK_CHAR = re.compile(
    "[\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf\u4e00-\u9fff"  # CJK unified ideographs, extension A
    "\uf900-\ufaff\uff66-\uff9f"  # compatibility ideographs, half-width katakana
    "\U00020000-\U0003134f]"  # ideograph extensions B..H
)
# A run of letters or digits in any script, with an apostrophe suffix kept ("don't").
# `[^\W_]` is \w without the underscore; on ASCII text this is exactly [a-z0-9] after
# lower-casing, so ASCII captions tokenise as before Unicode support.
_WORD = re.compile(r"[^\W_]+(?:'[^\W\d_]+)?")


def caption_tokens(text: str) -> list[str]:
    """Tokens for CIDEr-D: lower-cased words of letters and digits in any script, an
    apostrophe suffix kept ("don't", "dog's"); each Chinese/Japanese character is a token
    of its own; punctuation and symbols are dropped."""
    return _WORD.findall(_CJK_CHAR.sub(r" \g<0> ", text.lower()))


# A sentence ends at . ! or ? (optionally followed by closing quotes/brackets) and
# whitespace. No abbreviation list: this replaces nltk's punkt, which needs a download.
_SENT_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"')\]])\s+")


def split_sentences(text: str) -> list[str]:
    """Split text into sentences: at newlines, and after end punctuation within a line."""
    parts = (part for line in text.splitlines() for part in _SENT_END.split(line))
    return [p.strip() for p in parts if p.strip()]
