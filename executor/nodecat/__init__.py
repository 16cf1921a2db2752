"""nodecat: node catalogs from deep-learning libraries, and node graphs back into running models.

    import nodecat
    checked = nodecat.check("graph.json")
    outputs = nodecat.run(checked, {"x": array})

The Python API is nodecat.executor.api (re-exported here); the catalogs are made by
nodecat.introspector. This package is installed from executor/nodecat/ (see pyproject.toml):
`executor` and `introspector` are only directory names, never import names.
"""
from importlib.metadata import PackageNotFoundError, version

from nodecat.executor.api import *  # noqa: F403  (the API, as listed in its __all__)
from nodecat.executor.api import LAZY_NAMES as _LAZY_NAMES
from nodecat.executor.api import __all__ as _api_names

try:
    __version__ = version("nodecat")
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = [*_api_names, *_LAZY_NAMES, "__version__"]


def __getattr__(name: str) -> object:
    """The API's lazy names (`nodecat.Client`: httpx is imported on first use, not by `import nodecat`)."""
    if name in _LAZY_NAMES:
        import nodecat.executor.api as api
        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nodecat' has no attribute {name!r}")
