"""The `tokensim finance` and `tokensim cost` commands: exit codes, JSON keys, files, bad-input messages."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from tokensim.cli import cli
from tokensim.config.reader import config_dir

FOUNDING = config_dir() / "scenarios" / "b300-10k-cluster.yaml"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def variant(tmp_path, mutate):
    doc = copy.deepcopy(yaml.safe_load(FOUNDING.read_text()))
    mutate(doc)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module")
def founding_json():
    result = invoke("finance", "b300-10k-cluster", "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_finance_json_has_the_issue_keys(founding_json):
    """The JSON output carries project/equity IRR, NPV, the four paybacks, DSCR, LLCR, break-even rent, assumptions."""
    for key in ("project_irr", "equity_irr", "npv", "payback_years", "min_dscr", "avg_dscr", "llcr",
                "npv_zero_rent_per_gpu_hour", "assumptions", "definitions", "reasons"):
        assert key in founding_json
    assert set(founding_json["payback_years"]) == {"simple", "net", "equity", "equity_first_crossing", "discounted"}
    assert founding_json["payback_years"]["simple"] == pytest.approx(7.0 / 1.45)


def test_finance_json_lists_the_defaults_applied(founding_json):
    """Defaults the note is silent on (tenor = contract term, who pays power) appear in `assumptions`."""
    fields = {a["field"]: a for a in founding_json["assumptions"]}
    assert fields["financing.tenor_years"]["origin"] == "default"
    assert fields["opex.power_and_facility_paid_by"]["value"] == "lessor"


def test_finance_nan_metrics_are_null_with_reasons(founding_json):
    """An equity payback not reached is null in JSON with its reason under `reasons`."""
    assert founding_json["payback_years"]["equity"] is None
    assert "horizon" in founding_json["reasons"]["payback_equity"]


def test_finance_in_usd_divides_money_by_the_fx_rate(founding_json):
    """--currency USD converts NPV and rents at RMB 7.2 per USD and leaves IRRs unchanged."""
    result = invoke("finance", "b300-10k-cluster", "--currency", "USD", "--format", "json")
    assert result.exit_code == 0, result.output
    usd = json.loads(result.output)
    assert usd["currency"] == "USD"
    assert usd["npv"] == pytest.approx(founding_json["npv"] / 7.2)
    assert usd["npv_zero_rent_per_gpu_hour"] == pytest.approx(founding_json["npv_zero_rent_per_gpu_hour"] / 7.2)
    assert usd["equity_irr"] == pytest.approx(founding_json["equity_irr"])


def test_finance_writes_the_monthly_schedule(tmp_path):
    """--schedule FILE.csv writes 61 monthly rows (months 0-60) with currency-suffixed money columns."""
    path = tmp_path / "schedule.csv"
    result = invoke("finance", "b300-10k-cluster", "--schedule", path)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(path)
    assert len(frame) == 61 and "equity_cf_cny" in frame.columns
    assert frame["capex_cny"].iloc[0] == pytest.approx(7.0e9)


def test_finance_solves_for_rent(tmp_path):
    """--solve-for rent --target min_dscr=1.2 reports the rent in three units under `solution`."""
    result = invoke("finance", "b300-10k-cluster", "--solve-for", "rent", "--target", "min_dscr=1.2",
                    "--format", "json")
    assert result.exit_code == 0, result.output
    solution = json.loads(result.output)["solution"]
    assert solution["target"] == "min_dscr=1.2" and solution["achieved"] >= 1.2
    assert solution["rent_per_cluster_year"] == pytest.approx(solution["rent_per_gpu_hour"] * 9600 * 8760)


def test_finance_table_shows_nan_with_reason(tmp_path):
    """The human table prints a missing payback as NaN with its reason, and the assumptions."""
    result = invoke("finance", "b300-10k-cluster")
    assert result.exit_code == 0, result.output
    assert "NaN (cumulative cash flow is negative" in result.output
    assert "financing.tenor_years" in result.output


def test_finance_no_irr_case_exits_0_with_nan(tmp_path):
    """A zero-rent case has no IRR: exit 0, IRR printed as NaN with its reason."""
    def mutate(d):
        d["contract"]["rent_per_cluster_year"] = 0
        d["residual"]["percent_of_cost_by_age"] = {0: 0.0}

    path = variant(tmp_path, mutate)
    result = invoke("finance", path)
    assert result.exit_code == 0, result.output
    assert "NaN (no sign change" in result.output


def test_finance_bad_target_exits_2():
    """An unknown target metric exits with status 2 and suggests the closest one."""
    result = invoke("finance", "b300-10k-cluster", "--solve-for", "rent", "--target", "equity_ir=0.1")
    assert result.exit_code == 2 and "did you mean 'equity_irr'" in result.output


def test_finance_unknown_currency_exits_2():
    """--currency XYZ exits with status 2 listing the known currencies."""
    result = invoke("finance", "b300-10k-cluster", "--currency", "XYZ")
    assert result.exit_code == 2 and "CNY, EUR, USD" in result.output


def test_finance_bad_schedule_suffix_exits_2(tmp_path):
    """--schedule with a suffix other than .csv/.parquet exits 2."""
    result = invoke("finance", "b300-10k-cluster", "--schedule", tmp_path / "x.txt")
    assert result.exit_code == 2 and ".csv or .parquet" in result.output


@pytest.mark.parametrize("mutate, field, allowed", [
    (lambda d: d.__setitem__("utilisation", 1.2), "utilisation", "[0.01, 1]"),
    (lambda d: d["financing"].__setitem__("debt_share", 1.5), "financing.debt_share", "[0, 1]"),
    (lambda d: d["financing"].__setitem__("tenor_years", 0), "financing.tenor_years", "(0, 40]"),
    (lambda d: d["opex"].__setitem__("electricity_price_per_kwh", -0.5), "opex.electricity_price_per_kwh",
     "[0, inf)"),
    (lambda d: d.__setitem__("currency", "RMB"), "currency", "CNY, EUR, USD"),
    (lambda d: d.pop("financing"), "financing", "a 'financing' section"),
])
def test_finance_bad_scenario_exits_2_naming_file_field_and_range(tmp_path, mutate, field, allowed):
    """Bad scenario values exit with status 2 and one message naming the file, the field and what is allowed."""
    path = variant(tmp_path, mutate)
    result = invoke("finance", path)
    assert result.exit_code == 2
    assert str(path) in result.output and f"field '{field}'" in result.output and allowed in result.output
    assert "Traceback" not in result.output


def test_cost_json_terms_add_up():
    """`tokensim cost --format json` reports the breakdown whose terms add up to the total."""
    result = invoke("cost", "b300-10k-cluster", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    terms = [row for row in data["breakdown"] if row["term"] not in ("total",) and "memo" not in row["term"]]
    assert sum(row["per_gpu_hour_cny"] for row in terms) == pytest.approx(data["total_per_gpu_hour_cny"])


def test_cost_utilisation_above_one_exits_2():
    """--utilisation 1.2 exits with status 2 naming the option and [0.01, 1] (the scenario field's bound)."""
    result = invoke("cost", "b300-10k-cluster", "--utilisation", 1.2)
    assert result.exit_code == 2 and "--utilisation" in result.output and "[0.01, 1]" in result.output


def test_cost_in_usd():
    """`tokensim cost --currency USD` divides the CNY total by 7.2."""
    cny = json.loads(invoke("cost", "b300-10k-cluster", "--format", "json").output)
    usd = json.loads(invoke("cost", "b300-10k-cluster", "--currency", "USD", "--format", "json").output)
    assert usd["total_per_gpu_hour_usd"] == pytest.approx(cny["total_per_gpu_hour_cny"] / 7.2)


def test_cost_unknown_scenario_exits_2():
    """An unknown scenario name exits 2 with a suggestion."""
    result = invoke("cost", "b300-10k-clustr")
    assert result.exit_code == 2 and "did you mean" in result.output


def test_finance_csv_is_the_monthly_schedule(tmp_path):
    """Issue 16: finance refused --format csv although its help promised it. It prints the monthly schedule, the
    same table --schedule writes."""
    from click.testing import CliRunner

    from tokensim.cli import cli

    path = tmp_path / "s.csv"
    res = CliRunner().invoke(cli, ["finance", "b300-10k-cluster", "--format", "csv", "--schedule", str(path)])
    assert res.exit_code == 0, res.stderr
    assert res.stdout == path.read_text()
    assert res.stdout.splitlines()[0].startswith("month,year,gpus_online,")


def test_every_commands_format_help_names_exactly_what_it_takes():
    """The --format help of every command names each format it accepts and none it refuses."""
    import click

    from tokensim.cli import cli

    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        sub = [command] if not isinstance(command, click.Group) else [command.get_command(ctx, n)
                                                                       for n in command.list_commands(ctx)]
        for cmd in sub:
            for p in cmd.params:
                if p.name != "fmt":
                    continue
                choices = set(p.type.choices)
                for word in ("json", "csv", "parquet"):
                    promised = f"{word} " in p.help or f"{word}," in p.help or f"{word} (" in p.help
                    assert promised == (word in choices), (name, word, p.help)
