"""Just enough SQL lexing to find keywords outside strings, comments and parentheses."""

from __future__ import annotations

import re

_QUOTES = {"'": "'", '"': '"', "`": "`", "[": "]"}


def blank_literals(sql: str) -> str:
    """Replace string literals, quoted identifiers and comments with spaces.

    Keeps offsets intact. An unterminated literal or comment blanks to the end, which
    is what SQLite would reject anyway.
    """
    out = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in _QUOTES:
            close = _QUOTES[ch]
            j = i + 1
            while j < n:
                if sql[j] == close:
                    # A doubled quote inside a literal is an escaped quote, not the end.
                    if close != "]" and j + 1 < n and sql[j + 1] == close:
                        j += 2
                        continue
                    break
                j += 1
            out.append(" " * (min(j, n - 1) - i + 1))
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(" " * (j - i))
            i = j
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def top_level(sql: str) -> str:
    """The query text at parenthesis depth 0, literals and comments blanked."""
    out, depth = [], 0
    for ch in blank_literals(sql):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
            continue
        out.append(" ")
    return "".join(out)


_WORD = re.compile(r"[A-Za-z_]+")
_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)


def leading_keyword(sql: str) -> str:
    """The statement's first keyword, lower-cased ("" when there is none)."""
    m = _WORD.match(blank_literals(sql).lstrip(" \t\r\n("))
    return m.group(0).lower() if m else ""


def has_top_level_order_by(sql: str) -> bool:
    """True when the outermost query sorts its result (ORDER BY outside any subquery/CTE)."""
    return bool(_ORDER_BY.search(top_level(sql)))
