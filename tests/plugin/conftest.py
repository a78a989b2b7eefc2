import pytest


@pytest.fixture
def run(pytester):
    """Run pytest in-process on the fake meter; extra args pass through."""

    def _run(*args, **kw):
        return pytester.runpytest("-p", "no:cacheprovider", "--cegi-meter=fake", *args, **kw)

    return _run
