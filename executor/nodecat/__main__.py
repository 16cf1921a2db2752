"""`python -m nodecat ...`: the same command line as `nodecat ...`."""
from nodecat.executor.cli.main import main

main(prog_name="nodecat")
