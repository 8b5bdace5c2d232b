"""The GPU-hour price catalogue (configs/prices.yaml, tokensim.config.prices) and `tokensim catalog prices`.

The conversions are checked against arithmetic done by hand in the comments; the bundled file is checked for
provenance (every entry a source and a date) and for the issue's coverage (every GPU named has a price or is listed
among the file's gaps); a bad file gives one house-form line per mistake, all at once.
"""

from __future__ import annotations

import json
import re
import textwrap

import pytest
from click.testing import CliRunner

from tokensim import ConfigError, ConfigErrors
from tokensim._units import HOURS_PER_MONTH
from tokensim.cli import cli
from tokensim.config.catalog import load_catalog
from tokensim.config.prices import TIERS, load_prices, load_prices_file, quote_per_gpu_hour
from tokensim.config.reader import config_dir

PRICES = load_prices()
# The GPUs issue 16 names for the catalogue ("plus MI300X/MI355X where sourced").
ISSUE_GPUS = ("H100", "H200", "H20", "B200", "B300", "GB200", "GB300", "MI300X", "MI355X")
DATE = re.compile(r"^20\d{2}(-\d{2}(-\d{2})?)?$")


def _entry(**changes) -> dict:
    """One valid entry (an 8-GPU server rented at RMB 70,000 a month), with ``changes`` applied (None drops a key)."""
    entry = {"gpu": "H100", "tier": "china-rental", "provider": "test", "region": "China", "currency": "CNY",
             "quote": {"amount": 70000, "per": "server-month", "gpus": 8}, "grade": "B", "date": "2025-04",
             "source": {"document": "a test document", "publisher": "a test publisher"}}
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not None}


def _write(tmp_path, entries: list[dict]):
    path = tmp_path / "prices.yaml"
    path.write_text(json.dumps({"entries": entries}))  # JSON is YAML
    return path


# -- the bundled file -----------------------------------------------------------------------------------------------
def test_bundled_catalogue_loads_with_entries_in_every_tier():
    """configs/prices.yaml loads, and each of the six tiers has at least one entry."""
    assert len(PRICES) > 0
    assert {p.tier for p in PRICES} == set(TIERS)


def test_every_gpu_named_is_in_the_hardware_catalogue():
    """Each entry's GPU is a hardware catalogue name, spelt as the catalogue spells it."""
    hardware = load_catalog().hardware
    assert all(p.gpu in hardware for p in PRICES)


def test_every_entry_has_a_source_a_publisher_and_a_date():
    """Provenance: a document, a publisher and a date (YYYY, YYYY-MM or YYYY-MM-DD) on every entry."""
    for p in PRICES:
        assert p.source_document.strip() and p.source_publisher.strip(), p
        assert DATE.match(p.date), p
        assert p.grade in ("A", "B", "C", "E")


def test_every_gpu_of_the_issue_is_priced_or_listed_as_a_gap():
    """Each GPU issue 16 names has at least one price, or the file's comment lists it under 'Gaps'."""
    text = (config_dir() / "prices.yaml").read_text()
    gaps = text[text.index("# Gaps"):text.index("\nentries:")]
    priced = {p.gpu for p in PRICES}
    for gpu in ISSUE_GPUS:
        assert gpu in priced or re.search(rf"\b{gpu}\b", gaps), gpu
    assert {"H100", "H200", "B200", "B300", "GB200", "GB300"} <= priced


def test_owned_tco_and_three_year_rent_cover_every_priced_gpu():
    """Each GPU with any price also has an owned-TCO figure and a 3-year reserved price (SemiAnalysis publishes both
    for every GPU of the issue but H20, which has no price at all)."""
    priced = {p.gpu for p in PRICES}
    for tier in ("owned-tco", "reserved-3y"):
        assert {p.gpu for p in PRICES if p.tier == tier} == priced, tier


def test_old_observations_are_kept_to_show_the_trend():
    """H100 hyperscaler on-demand: the 2023 AWS price and a 2026 one are separate entries."""
    dates = {p.date[:4] for p in PRICES if p.gpu == "H100" and p.tier == "hyperscaler-on-demand"}
    assert {"2023", "2026"} <= dates


# -- conversions, by hand -------------------------------------------------------------------------------------------
def test_hours_per_month_convention_is_730():
    """tokensim's month is a 365-day year / 12 = 8,760 / 12 = 730 hours; the price conversions use it."""
    assert HOURS_PER_MONTH == 730.0


def test_server_month_quote_converts_per_gpu_hour_by_hand():
    """RMB 70,000 per 8-GPU server-month: 70,000 / 8 = 8,750 a GPU-month; 8,750 / 730 = RMB 11.9863 per GPU-hour."""
    assert quote_per_gpu_hour(70000, "server-month", 8) == pytest.approx(11.98630137, rel=1e-9)


def test_instance_hour_and_gpu_hour_quotes_by_hand():
    """AWS p5.48xlarge $98.32 an instance-hour / 8 GPUs = $12.29; a GPU-hour quote is itself."""
    assert quote_per_gpu_hour(98.32, "instance-hour", 8) == pytest.approx(12.29, rel=1e-12)
    assert quote_per_gpu_hour(5.0, "gpu-hour", 1) == 5.0


def test_bundled_quotes_are_converted_on_load():
    """The Tianfeng 5-year contract (RMB 70,000 per 8-GPU server-month) loads as RMB 11.99 per GPU-hour, and the 2023
    AWS p5.48xlarge price ($98.32 per 8-GPU instance-hour) as $12.29."""
    tianfeng = next(p for p in PRICES if p.source_publisher == "Tianfeng Securities")
    assert (tianfeng.quote_amount, tianfeng.quote_per, tianfeng.quote_gpus) == (70000, "server-month", 8)
    assert round(tianfeng.price_per_gpu_hour, 2) == 11.99
    aws_2023 = next(p for p in PRICES if p.tier == "hyperscaler-on-demand" and p.date == "2023-07-27")
    assert aws_2023.price_per_gpu_hour == pytest.approx(12.29)


def test_a_range_quote_has_both_ends(tmp_path):
    """RMB 120,000-180,000 per 8-GPU server-month: 120,000 / 8 / 730 = 20.548 and 180,000 / 8 / 730 = 30.822."""
    path = _write(tmp_path, [_entry(quote={"amount": 120000, "amount_high": 180000, "per": "server-month",
                                           "gpus": 8})])
    (entry,) = load_prices_file(path)
    assert entry.price_per_gpu_hour == pytest.approx(20.5479452, rel=1e-7)
    assert entry.price_per_gpu_hour_high == pytest.approx(30.8219178, rel=1e-7)


def test_usd_column_uses_the_fx_planning_rate(tmp_path):
    """RMB 11.9863 per GPU-hour at configs/fx.yaml's RMB 7.2 per USD = $1.6648 (11.9863 / 7.2)."""
    (entry,) = load_prices_file(_write(tmp_path, [_entry()]))
    assert entry.to_dict()["price_per_gpu_hour_usd"] == pytest.approx(1.664764, rel=1e-6)


def test_gpu_aliases_load_as_the_catalogue_name(tmp_path):
    """'h100-sxm' (an alias, in lower case) is stored as H100."""
    (entry,) = load_prices_file(_write(tmp_path, [_entry(gpu="h100-sxm")]))
    assert entry.gpu == "H100"


# -- bad files ------------------------------------------------------------------------------------------------------
def test_unknown_gpu_names_the_field_and_the_closest_name(tmp_path):
    """An unknown GPU: the field path, the known names and "did you mean"."""
    path = _write(tmp_path, [_entry(gpu="H1000")])
    with pytest.raises(ConfigError) as info:
        load_prices_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: field 'entries[0].gpu' got 'H1000'; allowed: a GPU in the hardware catalogue")
    assert message.endswith("(did you mean 'H100'?)")


@pytest.mark.parametrize("changes, message", [
    ({"price_per_gpu_hour": -2.5, "quote": None},
     "field 'entries[0].price_per_gpu_hour' got -2.5; allowed: a number in (0, inf)"),
    ({"source": None}, "field 'entries[0].source' missing; allowed: a value (this field is required)"),
    ({"source": {"document": " ", "publisher": "p"}},
     "field 'entries[0].source.document' got ' '; allowed: a non-empty string"),
    ({"date": None}, "field 'entries[0].date' missing; allowed: a value (this field is required)"),
    ({"date": "Mar 2025"},
     "field 'entries[0].date' got 'Mar 2025'; allowed: a date observed or published: YYYY, YYYY-MM or YYYY-MM-DD"),
    ({"tier": "reserved1y"},
     "field 'entries[0].tier' got 'reserved1y'; allowed: one of hyperscaler-on-demand, neocloud-on-demand, "
     "reserved-1y, reserved-3y, owned-tco, china-rental (did you mean 'reserved-1y'?)"),
    ({"currency": "RMB"}, "field 'entries[0].currency' got 'RMB'; allowed: a currency in configs/fx.yaml: CNY, EUR, "
                          "USD"),
    ({"price_per_gpu_hour": 12.0},
     "field 'entries[0].price_per_gpu_hour' got 12.0; allowed: exactly one of price_per_gpu_hour and quote"),
    ({"quote": None}, "field 'entries[0].price_per_gpu_hour' got None; allowed: exactly one of price_per_gpu_hour "
                      "and quote"),
    ({"quote": {"amount": 70000, "amount_high": 60000, "per": "server-month", "gpus": 8}},
     "field 'entries[0].quote.amount_high' got 60000.0; allowed: at least amount (70000)"),
    ({"quote": {"amount": 3, "per": "gpu-hour", "gpus": 8}},
     "field 'entries[0].quote.gpus' got 8; allowed: 1 for a quote per gpu-hour"),
    ({"quote": {"amount": 70000, "per": "server-week", "gpus": 8}},
     "field 'entries[0].quote.per' got 'server-week'; allowed: one of gpu-hour, instance-hour, server-month (did you "
     "mean 'server-month'?)"),
    ({"grade": "D"}, "field 'entries[0].grade' got 'D'; allowed: one of A, B, C, E"),
    ({"note": "x"}, "field 'entries[0].note' got 'x'; allowed: known keys: currency, date, gpu, grade, notes, "
                    "price_per_gpu_hour, provider, quote, region, source, tier (did you mean 'notes'?)"),
])
def test_one_mistake_one_house_line(tmp_path, changes, message):
    """Each mistake in an entry gives exactly one line: file, field path, value and what is allowed."""
    path = _write(tmp_path, [_entry(**changes)])
    with pytest.raises(ConfigError) as info:
        load_prices_file(path)
    assert not isinstance(info.value, ConfigErrors)
    assert str(info.value) == f"{path}: {message}"


def test_every_error_of_the_file_is_reported_at_once(tmp_path):
    """An unknown GPU, a negative price and a missing source in two entries: three lines, in the file's order."""
    path = _write(tmp_path, [_entry(gpu="H1000"),
                             _entry(quote=None, price_per_gpu_hour=-1, source=None)])
    with pytest.raises(ConfigErrors) as info:
        load_prices_file(path)
    assert [e.field for e in info.value.errors] == ["entries[0].gpu", "entries[1].price_per_gpu_hour",
                                                    "entries[1].source"]


def test_a_list_instead_of_a_mapping(tmp_path):
    """A document that is not a mapping of key: value is refused naming the document."""
    path = tmp_path / "prices.yaml"
    path.write_text(textwrap.dedent("""\
        - gpu: H100
        """))
    with pytest.raises(ConfigError, match=r"field '\(document\)'.*allowed: a mapping of key: value"):
        load_prices_file(path)


# -- the command ----------------------------------------------------------------------------------------------------
def _run(*args):
    return CliRunner().invoke(cli, ["catalog", "prices", *args])


def test_command_json_lists_every_entry_with_its_source():
    """`catalog prices --format json` gives one object per bundled entry, each with price, date and source."""
    result = _run("--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == len(PRICES)
    assert all(r["source_document"] and r["date"] and r["price_per_gpu_hour"] > 0 for r in rows)


def test_command_groups_by_gpu_then_tier_oldest_first():
    """Rows come grouped by GPU, tiers in the catalogue's order within a GPU, dates ascending within a tier."""
    rows = json.loads(_run("--format", "json").output)
    keys = [(r["gpu"], TIERS.index(r["tier"]), r["date"]) for r in rows]
    for a, b in zip(keys, keys[1:], strict=False):
        if a[0] == b[0]:
            assert a[1:] <= b[1:]
    gpus = [r["gpu"] for r in rows]
    assert all(gpus.index(g) == i or gpus[i - 1] == g for i, g in enumerate(gpus))  # each GPU's rows are together


def test_filters_by_gpu_alias_tier_and_region():
    """--gpu takes aliases; --tier and --region (case ignored) narrow the rows to exactly the matching entries."""
    rows = json.loads(_run("--gpu", "h100-sxm", "--tier", "china-rental", "--region", "CHINA",
                           "--format", "json").output)
    expected = [p for p in PRICES if p.gpu == "H100" and p.tier == "china-rental" and p.region == "China"]
    assert len(rows) == len(expected) > 0
    assert {(r["gpu"], r["tier"], r["region"]) for r in rows} == {("H100", "china-rental", "China")}


@pytest.mark.parametrize("args, text", [
    (["--gpu", "H1000"], "field '--gpu' got 'H1000'"),
    (["--region", "chna"], "(did you mean 'China'?)"),
    (["--tier", "spot"], "--tier"),
])
def test_bad_filters_exit_2_with_one_line(args, text):
    """An unknown GPU, region or tier: exit status 2, one line naming the option, no traceback."""
    result = _run(*args)
    assert result.exit_code == 2
    assert text in result.output and "Traceback" not in result.output


def test_filters_refused_for_other_kinds():
    """--gpu belongs to `catalog prices`: with `catalog models` it is a usage error (exit 2)."""
    result = CliRunner().invoke(cli, ["catalog", "models", "--gpu", "H100"])
    assert result.exit_code == 2
    assert "apply to `tokensim catalog prices` only" in result.output


def test_csv_has_one_row_per_entry():
    """`--format csv`: a header and one line per entry (quoted fields may hold commas, not newlines)."""
    result = _run("--format", "csv")
    assert result.exit_code == 0
    assert len(result.output.strip().splitlines()) == len(PRICES) + 1
