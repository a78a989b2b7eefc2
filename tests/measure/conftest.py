import logging

import pytest


@pytest.fixture(autouse=True)
def _default_profile(monkeypatch):
    # Tests pick their profile explicitly; a developer's CEGI_FLOPS_PROFILE must not leak in.
    monkeypatch.delenv("CEGI_FLOPS_PROFILE", raising=False)
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
