"""Escaping for every user-supplied string the Markdown report shows.

The report is posted as a PR comment, so a task, variant, metric, node id, message,
file name or machine description (all of which a pull request controls) must not
change its structure. One function per context, all built on `_flat`:

    inline(s)   prose and headings: Markdown and HTML inert, one line
    cell(s)     a table cell: inline + `|` escaped, capped at CELL_CHARS
    html(s)     text inside an HTML block (<summary>): entities only, one line
    code(s)     a code span, with a fence longer than any backtick run inside
    fenced(s)   a fenced code block whose body cannot close it
    label(s)    a Mermaid label inside double quotes

What each neutralises: line breaks and control characters (a newline could start a
heading or end a table; `\\r` breaks tables), HTML (`<!--` would hide the rest of
the comment), links and images (`[ ]`; `<` and `&` as entities), emphasis and code
(`* _ ~ backtick`),
@mentions and bare URLs (a zero-width joiner after `@` and inside `://`), and
length (an ellipsis past the cap, so one 200 kB name cannot push the rest out).
"""

from __future__ import annotations

import re

CELL_CHARS = 200  # longest table cell, in characters
LINE_CHARS = 300  # longest heading or prose fragment
LABEL_CHARS = 24  # Mermaid axis labels
ZWJ = "\u200d"  # zero-width joiner: invisible, but breaks @mentions and autolinks

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
# `_` inside a word (exact_match) cannot emphasise in GFM, so only edge ones are escaped.
_MARKDOWN = re.compile(r"([\\`*\[\]|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
_BACKTICKS = re.compile(r"`+")


def cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _flat(value: object, limit: int) -> str:
    """One line, no control characters, capped; mentions and autolinks broken."""
    text = _CONTROL.sub(" ", str(value))
    text = cap(text, limit)
    return text.replace("@", "@" + ZWJ).replace("://", ":/" + ZWJ + "/").replace("www.", "www" + ZWJ + ".")


def _entities(text: str) -> str:
    """`&` (so `&#64;` cannot become an @) and `<` (no tag, comment or autolink can
    open). `>` is left as typed: without a `<` it closes nothing, and one-line text
    never starts a line, where it would quote."""
    return text.replace("&", "&amp;").replace("<", "&lt;")


def inline(value: object, limit: int = LINE_CHARS) -> str:
    """Safe in a paragraph, list item, blockquote or heading.

    `[` and `]` are escaped, which is what makes links and images (`![..](..)`)
    impossible: `(`, `)` and `!` mean nothing without them, so they are left as typed."""
    return _entities(_MARKDOWN.sub(r"\\\1", _flat(value, limit)))


def cell(value: object, limit: int = CELL_CHARS) -> str:
    """Safe in a GFM table cell (inline escaping already covers `|`)."""
    return inline(value, limit)


def html(value: object, limit: int = LINE_CHARS) -> str:
    """Safe inside an HTML block such as <summary>, where backslash escapes show literally."""
    return _entities(_flat(value, limit))


def code(value: object, limit: int = LINE_CHARS) -> str:
    """A code span whose fence is longer than any backtick run in the text."""
    text = _flat(value, limit)
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def fenced(body: object, lang: str = "", limit: int = LINE_CHARS * 4) -> str:
    """A fenced code block of `body` (its lines kept); the fence is longer than any
    backtick run in it, so no line of the body can close the block."""
    lines = [_CONTROL.sub(" ", line) for line in cap(str(body), limit).splitlines()]
    text = "\n".join(lines)
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def label(value: object, limit: int = LABEL_CHARS) -> str:
    """A Mermaid label inside "...": no quotes, backticks, brackets or markup."""
    text = _CONTROL.sub(" ", str(value))
    text = re.sub(r'["`<>\[\]{}#;]', "'", text)
    return cap(text, limit).replace("@", "@" + ZWJ)
