"""pytest-cegi: gate ML changes on task quality and carbon (CEGI)."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Variant", "__version__"]


def __getattr__(name: str):
    # Variant lives with the model-loading code; import it on first use only.
    if name == "Variant":
        from pytest_cegi.models.variants import Variant

        return Variant
    raise AttributeError(f"module 'pytest_cegi' has no attribute {name!r}")
