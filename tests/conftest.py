import pytest

# run_builders: the `make` fixture that builds saved runs for judge, report and cli tests
pytest_plugins = ["pytester", "run_builders"]

# pytester's in-process runs remove the modules first imported inside them when they
# end; matplotlib does not survive such a partial re-import (two Rectangle classes),
# so the modules the plot code uses are loaded here, before any in-process run.
try:
    import matplotlib.backends.backend_agg
    import matplotlib.figure  # noqa: F401
except ImportError:
    pass


@pytest.fixture
def pytester(pytester, monkeypatch):
    """pytest-randomly (a dev dependency, tested in tests/plugin/test_other_plugins.py)
    would shuffle every inner session; tests that want it remove this again."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly")
    return pytester
