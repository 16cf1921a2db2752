"""The server tests' real server: nodecat.executor.server.local, under the names the tests use."""
from nodecat.executor.server.local import Server, free_port, running_server

__all__ = ["Server", "free_port", "running_server"]
