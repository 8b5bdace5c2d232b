"""``--set PATH=VALUE`` on every scenario command (issue 16): an override means exactly what the same value written
in the file means, and an error on an overridden field names ``--set`` and the path."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from _yamledit import edited
from click.testing import CliRunner

from tokensim import ConfigError, UserError, load_scenario
from tokensim.cli import cli

ROOT = Path(__file__).resolve().parent.parent
FOUNDING = ROOT / "configs" / "scenarios" / "b300-10k-cluster.yaml"


def _json(args: list[str]) -> dict:
    res = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


def _without_origin(data: dict) -> dict:
    """The finance JSON without the parts that say where a value came from (file name, assumption origins)."""
    return {k: v for k, v in data.items() if k not in ("scenario", "file", "assumptions")}


def test_an_override_equals_the_same_value_written_in_the_file(tmp_path):
    """The oracle is the file itself: the founding scenario with debt_share 0.7 and interest 6% written into a copy
    gives the same finance JSON as the bundled file with the two --set options."""
    copy = edited(tmp_path, FOUNDING, {"financing.debt_share": 0.7, "financing.interest_rate": 0.06})
    from_file = _json(["finance", str(copy)])
    from_set = _json(["finance", "b300-10k-cluster", "--set", "financing.debt_share=0.7",
                      "--set", "financing.interest_rate=0.06"])
    assert _without_origin(from_set) == _without_origin(from_file)
    assert from_set["npv"] != _json(["finance", "b300-10k-cluster"])["npv"]  # and the override did change it


def test_overrides_apply_in_order_and_are_listed_as_assumptions():
    s = load_scenario("b300-10k-cluster", ["financing.debt_share=0.5", "financing.debt_share=0.6",
                                           "residual.percent_of_cost_by_age.3=0.35"])
    assert s.financing.debt_share == 0.6  # the last one wins, as in the order typed
    notes = [(a.field, a.value) for a in s.assumptions if a.origin == "override"]
    assert notes == [("financing.debt_share", 0.5), ("financing.debt_share", 0.6),
                     ("residual.percent_of_cost_by_age.3", 0.35)]


def test_null_removes_a_key_so_another_form_can_replace_it():
    """Rent per GPU-hour 18 in place of the file's rent per cluster-year: the contract bills per GPU-hour at 18."""
    s = load_scenario("b300-10k-cluster", ["contract.rent_per_cluster_year=null", "contract.rent_per_gpu_hour=18"])
    assert (s.contract.billing, s.contract.rent) == ("per_gpu_hour", 18.0)


def test_a_numbered_key_overrides_the_existing_entry():
    """percent_of_cost_by_age has whole-number keys (ages): '3' names age 3, not a new text key."""
    s = load_scenario("b300-10k-cluster", ["residual.percent_of_cost_by_age.3=0.35"])
    base = load_scenario("b300-10k-cluster")
    assert s.residual != base.residual
    assert len(s.residual.percent_of_cost_by_age) == len(base.residual.percent_of_cost_by_age)


@pytest.mark.parametrize(("overrides", "message"), [
    (["financing.debt_share=2"], "--set: field 'financing.debt_share' got 2; allowed: a number in [0, 1]"),
    (["capex.server_prise=4e6"], "--set: field 'capex.server_prise' got 4000000.0; allowed: known keys:"),
    (["capex.server_price.x=1"], "--set: field 'capex.server_price.x' got 1; allowed: a path through mappings"),
    # the file gives rent_per_cluster_year; a second rent key set on the command line says how to drop the file's
    (["contract.rent_per_gpu_hour=18"], "allowed: exactly one of rent_per_gpu_hour, rent_per_server_month, "
     "rent_per_cluster_year (with --set: null removes a key, e.g. --set contract.rent_per_cluster_year=null)"),
])
def test_an_error_on_an_overridden_field_names_set(overrides, message):
    with pytest.raises(ConfigError) as info:
        load_scenario("b300-10k-cluster", overrides)
    assert message in str(info.value)


@pytest.mark.parametrize(("text", "message"), [
    ("financing", "--set 'financing': allowed: PATH=VALUE"),
    ("a..b=1", "--set 'a..b=1': allowed: a dotted field path"),
    ("=1", "--set '=1': allowed: a dotted field path"),
    ("financing.debt_share=[1", "--set financing.debt_share: line 1, column 3 malformed YAML"),
])
def test_a_malformed_override_is_refused(text, message):
    with pytest.raises(UserError) as info:
        load_scenario("b300-10k-cluster", [text])
    assert message in str(info.value)


def test_every_error_of_the_file_and_the_overrides_is_reported_at_once(tmp_path):
    """One bad value in the file, two bad overrides: three lines, each naming where it came from."""
    bad = edited(tmp_path, FOUNDING, {"tax.rate": 2})
    res = CliRunner().invoke(cli, ["cost", str(bad), "--set", "financing.debt_share=2",
                                   "--set", "capex.server_price=-1"])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 3
    assert sum(line.startswith("tokensim: error: --set: field ") for line in lines) == 2
    assert sum(f"{bad}: field 'tax.rate'" in line for line in lines) == 1


def _scenario_commands() -> list[str]:
    ctx = click.Context(cli)
    return [name for name in cli.list_commands(ctx)
            if any(p.name == "scenario" or p.name == "scenario_name" for p in cli.get_command(ctx, name).params)]


def test_every_scenario_command_takes_set():
    commands = _scenario_commands()
    assert {"run", "cost", "finance", "mc", "bridge", "sweep", "sensitivity", "plot"} <= set(commands)
    ctx = click.Context(cli)
    for name in commands:
        opts = {o for p in cli.get_command(ctx, name).params for o in p.opts}
        assert "--set" in opts, name


def test_init_writes_a_commented_copy_that_loads_as_its_source(tmp_path):
    """`tokensim init PATH`: the bundled file's text (comments kept) after a header, loading to the same scenario;
    an existing file is refused unless --force."""
    target = tmp_path / "mine.yaml"
    res = CliRunner().invoke(cli, ["init", str(target)])
    assert res.exit_code == 0, res.stderr
    text = target.read_text(encoding="utf-8")
    assert text.endswith(FOUNDING.read_text(encoding="utf-8")) and text.startswith("# A starting scenario")
    assert _without_origin(_json(["finance", str(target)])) == _without_origin(_json(["finance", "b300-10k-cluster"]))
    again = CliRunner().invoke(cli, ["init", str(target)])
    assert again.exit_code == 2 and "exists; allowed: a new file (or --force to replace it)" in again.stderr
    assert CliRunner().invoke(cli, ["init", str(target), "--force", "--from", "us-b300-neocloud-usage"]).exit_code == 0
    assert "neocloud" in target.read_text(encoding="utf-8")
