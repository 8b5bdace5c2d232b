"""``tokensim init PATH``: a commented starting scenario to edit, copied from a bundled one."""

from __future__ import annotations

import click

from ..config.scenario import write_starting_scenario
from ._common import cli, info


@cli.command("init")
@click.argument("path")
@click.option("--from", "source", default="b300-10k-cluster", show_default=True,
              help="the bundled scenario (or a scenario file) to start from")
@click.option("--force", is_flag=True, help="replace PATH if it exists")
def init_command(path: str, source: str, force: bool) -> None:
    """Write a commented starting scenario to PATH (every field with its unit and source), ready to edit."""
    written = write_starting_scenario(path, source, force=force)
    info(f"wrote {written}; check it with: tokensim finance {written}")
