"""numeric_accuracy: the final number of a reasoning answer against the reference number.

GSM8K style. The number after the last ``####`` marker wins when there is one; otherwise
the last number in the text. Numbers are compared exactly as decimals after
normalisation, so ``$1,234.50``, ``1234.5`` and ``1,234.500`` are the same answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from pytest_cegi.metrics.base import Metric, MetricError, reject_options

MARKER = "####"

# A sign counts only right before the digits or a "$", and not after a word or a closing
# bracket ("3-5" is a range, "10 - 5" a subtraction: neither holds minus five).
# Thousands separators must group digits in threes.
_NUMBER = re.compile(
    r"(?<![\w)\]])(?P<sign>[-\u2212])?(?:\$\s?)?(?P<sign2>[-\u2212])?"
    r"(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)"
    r"|(?P<bare>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)"
)


def _to_decimal(match: re.Match) -> Decimal:
    digits = (match.group("num") or match.group("bare")).replace(",", "")
    negative = bool(match.group("sign") or match.group("sign2")) if match.group("num") else False
    value = Decimal(digits)
    return -value if negative else value


def _numbers(text: str) -> list[Decimal]:
    return [_to_decimal(m) for m in _NUMBER.finditer(text)]


def extract_number(text: str) -> tuple[Decimal | None, str]:
    """(the answer's number, or None, and why there is none).

    After a ``####`` marker: the first number following the last marker. Without one:
    the last number in the text. ``$`` and ``%`` around a number are ignored.
    """
    if MARKER in text:
        found = _numbers(text.rsplit(MARKER, 1)[1])
        if not found:
            return None, f"no number after the {MARKER!r} marker"
        return found[0], ""
    found = _numbers(text)
    if not found:
        return None, "no number in the text"
    return found[-1], ""


def format_number(value: Decimal) -> str:
    """Canonical text: no thousands separators, no trailing zeros, no exponent."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _reference_number(ref: Any, index: int) -> Decimal:
    if isinstance(ref, bool):
        raise MetricError(f"numeric_accuracy: reference {index} is a bool, not a number")
    if isinstance(ref, (int, float)):
        if isinstance(ref, float) and not math.isfinite(ref):
            raise MetricError(f"numeric_accuracy: reference {index} is not finite: {ref!r}")
        return Decimal(str(ref))
    if isinstance(ref, Decimal):
        return ref
    if not isinstance(ref, str):
        raise MetricError(f"numeric_accuracy: reference {index} must be a number or a string, got {type(ref).__name__}")
    value, why = extract_number(ref)
    if value is None:
        raise MetricError(f"numeric_accuracy: reference {index} has no number ({why}): {ref[:200]!r}")
    return value


def _tolerance(value: Any) -> Decimal:
    try:
        tol = Decimal(str(value))
    except InvalidOperation:
        raise MetricError(f"numeric_accuracy: tolerance must be a number, got {value!r}") from None
    if isinstance(value, bool) or not tol.is_finite() or tol < 0:
        raise MetricError(f"numeric_accuracy: tolerance must be a non-negative number, got {value!r}")
    return tol


class NumericAccuracy(Metric):
    """Fraction of predictions whose final number equals the reference number.

    Exact comparison by default (GSM8K answers are integers); ``tolerance=`` allows an
    absolute difference, opt-in.
    """

    name = "numeric_accuracy"
    primary_key = "numeric_accuracy"

    def score(
        self, predictions: Sequence, references: Sequence, *, tolerance: Any = 0, **kwargs: Any
    ) -> tuple[dict, dict]:
        reject_options(self.name, kwargs)
        tol = _tolerance(tolerance)
        golds = [_reference_number(ref, i) for i, ref in enumerate(references)]
        per_item: list[dict[str, Any]] = []
        for i, (pred, gold) in enumerate(zip(predictions, golds, strict=True)):
            if not isinstance(pred, str):
                raise MetricError(f"numeric_accuracy: prediction {i} must be a string, got {type(pred).__name__}")
            value, why = extract_number(pred)
            correct = value is not None and abs(value - gold) <= tol
            per_item.append(
                {
                    "extracted": None if value is None else format_number(value),
                    "reference": format_number(gold),
                    "correct": correct,
                    **({"why": why} if why else {}),
                }
            )
        accuracy = sum(item["correct"] for item in per_item) / len(per_item)
        details = {
            "per_example": [float(item["correct"]) for item in per_item],
            "items": per_item,
            "no_number": sum(item["extracted"] is None for item in per_item),
            "tolerance": format_number(tol),
        }
        return {"numeric_accuracy": accuracy}, details


__all__ = ["NumericAccuracy", "extract_number", "format_number"]
