"""nodecat executor: graph -> running model (built in a later issue)."""
