"""Metrics we know of but cannot run offline, with the reason.

The registry answers these names with a MetricError that says why, rather than quietly
returning a number computed some other way.
"""

from __future__ import annotations

WORKAROUND = (
    "If you have a working implementation (e.g. an `evaluate` module loaded from a "
    "local path), pass that object to cegi.score() instead of the name."
)

REASONS = {
    "spice": (
        "SPICE needs a Java runtime plus the Stanford CoreNLP and SPICE jars (hundreds of MB, "
        "downloaded on first use); pytest-cegi neither ships nor downloads them."
    ),
    "meteor": (
        "METEOR needs WordNet data (nltk's `wordnet` corpus, a download) or the Java "
        "METEOR 1.5 jar for official figures; neither is bundled, and pytest-cegi never "
        "downloads data at run time."
    ),
}
