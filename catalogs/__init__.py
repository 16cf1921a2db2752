"""Package data: the committed catalogs (one per library version) and, in schema/, the JSON Schemas
of every format nodecat reads or writes. Found through importlib.resources (nodecat.introspector.paths)."""
