"""The `nodecat` command line: one click group, every command registered once (commands), thin over
the Python API. Exit codes: 0 success, 1 a check failed, 2 bad usage or bad input.
"""
