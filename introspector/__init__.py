"""nodecat introspector: turns a deep-learning library into a catalog of node descriptors."""

__version__ = "0.1.0"
