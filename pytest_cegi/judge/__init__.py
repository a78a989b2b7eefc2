"""Judgement: budgets into verdicts, regressions against a baseline, statistics."""
