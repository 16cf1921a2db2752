"""Package data: the human-reviewed overrides, one file per library. Found through importlib.resources
(nodecat.introspector.paths)."""
