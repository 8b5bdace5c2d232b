"""Loading and validating scenario YAML (tokensim.config.scenario)."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from tokensim import ConfigError, UserError
from tokensim.config._yaml import config_dir
from tokensim.config.scenario import load_scenario

FOUNDING = config_dir() / "scenarios" / "b300-10k-cluster.yaml"


def variant(tmp_path, mutate, name="variant.yaml"):
    """Write the founding case changed by ``mutate(doc)`` to a temporary file and return its path."""
    doc = copy.deepcopy(yaml.safe_load(FOUNDING.read_text()))
    mutate(doc)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_founding_case_loads_with_the_notes_numbers():
    """The bundled founding case has 1,200 servers x 8 = 9,600 GPUs, RMB 7 bn capex and RMB 1.45 bn rent a year."""
    s = load_scenario("b300-10k-cluster")
    assert (s.cluster.servers, s.cluster.gpus, s.cluster.gpus_per_server) == (1200, 9600, 8)
    assert s.capex_total == pytest.approx(7.0e9)
    assert s.currency == "CNY"
    assert s.contract.rent == pytest.approx(1.45e9) and s.contract.billing == "per_cluster_year"
    assert s.financing.debt_share == 0.9 and s.financing.interest_rate == 0.04


def test_debt_tenor_defaults_to_the_contract_term_and_is_recorded():
    """Without tenor_years the debt runs as long as the contract, and the assumption list says so."""
    s = load_scenario("b300-10k-cluster")
    assert s.financing.tenor_years == s.contract.term_years == 5
    rows = {a.field: a for a in s.assumptions}
    assert rows["financing.tenor_years"].value == 5 and rows["financing.tenor_years"].origin == "default"
    assert "contract term" in rows["financing.tenor_years"].why


def test_default_discount_rate_is_the_pre_tax_wacc():
    """The default discount rate is 0.9 x 4% + 0.1 x 15% = 5.1% (economics-reference.md 1.8 case C)."""
    s = load_scenario("b300-10k-cluster")
    assert s.financing.discount_rate == pytest.approx(0.051)


def test_file_declared_assumptions_are_listed_with_their_values():
    """Fields the file lists under `assumptions:` appear with the value found at that path and origin 'scenario'."""
    s = load_scenario("b300-10k-cluster")
    rows = {a.field: a for a in s.assumptions if a.origin == "scenario"}
    assert rows["opex.power_and_facility_paid_by"].value == "lessor"
    assert rows["tax.rate"].value == 0.25


def test_declared_assumption_must_name_an_existing_field(tmp_path):
    """An `assumptions:` entry naming a field the scenario lacks is an error naming that entry."""
    path = variant(tmp_path, lambda d: d["assumptions"].append({"field": "opex.nothing", "why": "x"}))
    with pytest.raises(ConfigError, match=r"assumptions\[\d+\]\.field"):
        load_scenario(path)


@pytest.mark.parametrize("mutate, field, allowed", [
    (lambda d: d.__setitem__("utilisation", 1.2), "utilisation", r"\(0, 1\]"),
    (lambda d: d["financing"].__setitem__("debt_share", 1.5), "financing.debt_share", r"\[0, 1\]"),
    (lambda d: d["financing"].__setitem__("tenor_years", 0), "financing.tenor_years", r"\(0, 40\]"),
    (lambda d: d["opex"].__setitem__("electricity_price_per_kwh", -0.1), "opex.electricity_price_per_kwh",
     r"\[0, inf\)"),
    (lambda d: d["capex"].__setitem__("server_price", -1), "capex.server_price", r"\[0, inf\)"),
    (lambda d: d["contract"].__setitem__("rent_per_cluster_year", -5), "contract.rent_per_cluster_year",
     r"\[0, inf\)"),
    (lambda d: d["contract"].__setitem__("term_years", 0), "contract.term_years", r"\(0, 40\]"),
])
def test_bad_numbers_name_file_field_value_and_range(tmp_path, mutate, field, allowed):
    """Out-of-range numbers are rejected with the file, the dotted field, the value and the allowed range."""
    path = variant(tmp_path, mutate)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    message = str(info.value)
    assert str(path) in message and f"field '{field}'" in message
    assert re.search(allowed, message)


def test_unknown_currency_lists_the_known_ones(tmp_path):
    """currency: XYZ is an error that lists the currencies of configs/fx.yaml."""
    path = variant(tmp_path, lambda d: d.__setitem__("currency", "XYZ"))
    with pytest.raises(ConfigError, match=r"field 'currency' got 'XYZ'.*CNY, EUR, USD"):
        load_scenario(path)


@pytest.mark.parametrize("section", ["capex", "financing", "contract", "opex", "cluster", "serving"])
def test_missing_required_section_names_it(tmp_path, section):
    """A scenario without a required section is an error naming the file and the section."""
    path = variant(tmp_path, lambda d: d.pop(section))
    with pytest.raises(ConfigError, match=rf"{path}: field '{section}' missing; allowed: a '{section}' section"):
        load_scenario(path)


def test_unknown_key_suggests_the_closest_one(tmp_path):
    """A misspelt key is rejected with 'did you mean' the right one."""
    def mutate(d):
        d["opex"]["electricity_price_kwh"] = d["opex"].pop("electricity_price_per_kwh")

    path = variant(tmp_path, mutate)
    with pytest.raises(ConfigError, match="did you mean 'electricity_price_per_kwh'"):
        load_scenario(path)


def test_unknown_hardware_name_is_reported_at_its_field(tmp_path):
    """An unknown hardware name points at serving.hardware in the scenario file."""
    path = variant(tmp_path, lambda d: d["serving"].__setitem__("hardware", "B3000"))
    with pytest.raises(ConfigError, match=r"field 'serving.hardware' got 'B3000'.*did you mean"):
        load_scenario(path)


def test_gpus_must_match_servers_times_gpus_per_server(tmp_path):
    """Giving both servers and gpus that disagree is an error stating the product."""
    path = variant(tmp_path, lambda d: d["cluster"].__setitem__("gpus", 10000))
    with pytest.raises(ConfigError, match="1200 x 8 = 9600"):
        load_scenario(path)


def test_exactly_one_rent_key(tmp_path):
    """A fixed contract needs exactly one of the three rent keys."""
    path = variant(tmp_path, lambda d: d["contract"].__setitem__("rent_per_gpu_hour", 17.0))
    with pytest.raises(ConfigError, match="exactly one of rent_per_gpu_hour"):
        load_scenario(path)


def test_sculpted_debt_needs_a_target_dscr(tmp_path):
    """amortisation: sculpted without target_dscr is an error naming financing.target_dscr."""
    path = variant(tmp_path, lambda d: d["financing"].__setitem__("amortisation", "sculpted"))
    with pytest.raises(ConfigError, match="financing.target_dscr"):
        load_scenario(path)


def test_delivery_shares_must_add_up_to_one(tmp_path):
    """Staged deliveries whose shares do not add up to 1 are rejected."""
    path = variant(tmp_path, lambda d: d["capex"].__setitem__("delivery", [{"month": 0, "share": 0.5},
                                                                         {"month": 3, "share": 0.4}]))
    with pytest.raises(ConfigError, match="add up to 1"):
        load_scenario(path)


def test_uncertainty_is_carried_as_a_raw_mapping(tmp_path):
    """The uncertainty section is kept as given for the Monte Carlo stage to validate."""
    spec = {"market_rent": {"volatility": 0.3}, "correlation": [[1.0]]}
    path = variant(tmp_path, lambda d: d.__setitem__("uncertainty", spec))
    assert load_scenario(path).uncertainty == spec


def test_unknown_scenario_name_suggests_a_bundled_one():
    """A misspelt bundled scenario name is a user error with a suggestion."""
    with pytest.raises(UserError, match="did you mean 'b300-10k-cluster'"):
        load_scenario("b300-10k-clustr")


def test_second_bundled_scenario_loads():
    """The US neocloud base + usage scenario loads with a floating rate and an economic residual."""
    s = load_scenario("us-b300-neocloud-usage")
    assert s.contract.type == "base_plus_usage" and s.financing.rate_type == "floating"
    assert s.financing.interest_rate == pytest.approx(0.04 + 0.045)
    assert s.residual.method == "economic"


def test_speculative_decoding_is_read_and_bounded(tmp_path):
    """The founding case serves with DeepSeek's MTP (1 draft, 1.85 accepted); acceptance above 1 + drafts is refused
    naming the field."""
    import yaml as _yaml

    from tokensim.perf._model import serving_workload

    s = load_scenario("b300-10k-cluster")
    w = serving_workload(s.serving)
    assert (w.speculative_draft_tokens, w.speculative_acceptance_length) == (1, 1.85)
    doc = _yaml.safe_load((config_dir() / "scenarios" / "b300-10k-cluster.yaml").read_text())
    doc["serving"]["speculative_acceptance_length"] = 2.5
    bad = tmp_path / "bad.yaml"
    bad.write_text(_yaml.safe_dump(doc))
    with pytest.raises(UserError, match=r"serving\.speculative_acceptance_length.*\[1, 2\]"):
        load_scenario(bad)
