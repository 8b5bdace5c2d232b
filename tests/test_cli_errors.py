"""One error format on the command line: click's own usage errors end in the house one-line form, like the
project's errors, through ``main`` (the installed script) and through the click group (CliRunner)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokensim.cli import cli

ROOT = Path(__file__).resolve().parent.parent

CASES = [
    (["perf", "--hardware"], "tokensim: error: Option '--hardware' requires an argument."),
    (["mc", "b300-10k-cluster", "--paths", "abc"],
     "tokensim: error: Invalid value for '--paths': 'abc' is not a valid integer."),
    (["nosuch"], "tokensim: error: No such command 'nosuch'."),
    (["run", "--bogus"], "tokensim: error: No such option '--bogus'. Did you mean '--out'?"),
]


@pytest.mark.parametrize(("args", "line"), CASES)
def test_click_usage_errors_are_one_house_line(args, line):
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [line]


def test_the_script_entry_point_prints_the_same_line_and_help_without_arguments():
    """Through ``main``: the same one line and exit 2; ``tokensim`` alone prints the help and exits 0."""
    bad = subprocess.run([sys.executable, "-m", "tokensim", *CASES[1][0]], cwd=ROOT, capture_output=True, text=True,
                         check=False)
    assert bad.returncode == 2 and bad.stderr.splitlines() == [CASES[1][1]]
    bare = subprocess.run([sys.executable, "-m", "tokensim"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert bare.returncode == 0 and bare.stdout.startswith("Usage: tokensim") and bare.stderr == ""
