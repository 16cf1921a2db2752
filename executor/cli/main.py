"""The one `nodecat` click group: every command and command group is registered here, once.

The command modules define plain click commands and import nothing of each other, so the CLI has
no import cycle and `nodecat --help` lists the whole contract in one place.
"""
from __future__ import annotations

import click

from nodecat.executor.cli.client_commands import runs_cmd, submit_cmd
from nodecat.executor.cli.export_command import export_cmd
from nodecat.executor.cli.graph_commands import check_cmd, draw_cmd, profile_cmd, run_cmd
from nodecat.executor.cli.import_command import import_cmd
from nodecat.executor.cli.serve_command import serve_cmd
from nodecat.executor.cli.train_commands import demo_cmd, evaluate_cmd, train_cmd
from nodecat.introspector.cli import catalog


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nodecat")
def main() -> None:
    """nodecat: node catalogs from deep-learning libraries, and graphs back into models."""


for command in (catalog, check_cmd, profile_cmd, run_cmd, draw_cmd, train_cmd, evaluate_cmd, demo_cmd,
                import_cmd, export_cmd, serve_cmd, submit_cmd, runs_cmd):
    main.add_command(command)

if __name__ == "__main__":  # `python -m nodecat.executor.cli.main` (what torchrun starts)
    main()
