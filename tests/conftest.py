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
# pandas and pyarrow do not survive it either: codecarbon reads its data with pandas,
# and once an in-process run (a carbon factor by country, a codecarbon window) first
# imported them, the next import made a second pandas whose string arrays the first
# pyarrow-backed classes reject ("ArrowStringArray does not support reshape" in
# codecarbon's read_csv, a stray "__index_level_0__" column in datasets), failing
# whichever codecarbon or dataset test ran next in that process.
try:
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
except ImportError:
    pass


@pytest.fixture
def pytester(pytester, monkeypatch):
    """pytest-randomly (a dev dependency, tested in tests/plugin/test_other_plugins.py)
    would shuffle every inner session; tests that want it remove this again."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly")
    return pytester
