"""`tokensim cost-per-token` (issue 16): cost per million tokens across GPUs, precisions and price tiers."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tokensim import SLO, Workload, predict
from tokensim.cli import cli
from tokensim.config.prices import PriceEntry
from tokensim.tokencost import cost_per_token_table, tier_prices


def _entry(gpu: str, tier: str, price: float, date: str, currency: str = "USD", high: float | None = None):
    return PriceEntry(gpu=gpu, tier=tier, provider="p", region="us", currency=currency, price_per_gpu_hour=price,
                      price_per_gpu_hour_high=high, grade="B", date=date, source_document="d", source_publisher="p")


def test_a_tier_price_is_the_median_of_its_latest_years_quotes():
    """Quotes 2.0 (2025), 3.0 and 4.0-5.0 (2026): the 2025 quote is left out; the 2026 prices are 3, 4 and 5 (a
    range counts at both ends): median 4, low 3, high 5, two quotes, latest 2026-06."""
    tier = "neocloud-on-demand"
    entries = [_entry("H100", tier, 2.0, "2025-01"), _entry("H100", tier, 3.0, "2026-02"),
               _entry("H100", tier, 4.0, "2026-06", high=5.0), _entry("B200", tier, 9, "2026")]
    assert tier_prices(entries, "H100", "neocloud-on-demand", "USD") == (4.0, 3.0, 5.0, 2, "2026-06")
    assert tier_prices(entries, "H100", "reserved-1y", "USD") is None


def test_the_cost_is_the_price_over_the_tokens_a_gpu_hour_serves():
    """Output cost per million = price per GPU-hour / 3,600 s x GPU-seconds per output token x 10^6, with the
    operating point perf finds at the speed target (tokensim perf --mode aggregated: the layout search's best
    aggregated layout); the interval carries the throughput interval over inversely."""
    work, slo = Workload(1000, 1000), SLO(min_tokens_per_s_per_user=100)
    rows, _ = cost_per_token_table("gpt-oss-120b", work, slo, hardware=["H100"], precisions=["fp8"],
                                   tiers=["neocloud-on-demand"])
    (row,) = rows
    point = predict("H100", "gpt-oss-120b", "fp8", work, slo=slo, mode="aggregated", search=True)
    assert row.layout == point.layout and row.output_tokens_per_s_per_gpu == pytest.approx(
        point.output_tokens_per_s_per_gpu, rel=1e-12)
    assert row.cost_per_million_output_tokens == pytest.approx(
        row.price_per_gpu_hour / 3600 * point.gpu_s_per_output_token * 1e6, rel=1e-9)
    assert row.cost_per_million_output_tokens_high == pytest.approx(
        row.cost_per_million_output_tokens * point.output_tokens_per_s_per_gpu / point.output_tokens_per_s_per_gpu_low,
        rel=1e-9)
    assert row.tokens_per_s_per_user >= 100


def test_the_done_when_question_in_one_command(tmp_path):
    """"Cost per million output tokens of gpt-oss-120b on H100 vs B200 at 100 tokens/s per user, at neocloud
    prices": one command, cheapest first, every row at the target speed, and a chart."""
    out = tmp_path / "rank.png"
    res = CliRunner().invoke(cli, ["cost-per-token", "--model", "gpt-oss-120b", "--hardware", "H100,B200",
                                   "--min-tokens-per-s-per-user", "100", "--tier", "neocloud-on-demand",
                                   "--out", str(out), "--format", "json"])
    assert res.exit_code == 0, res.stderr
    rows = json.loads(res.stdout)
    assert {r["hardware"] for r in rows} == {"H100", "B200"} and {r["tier"] for r in rows} == {"neocloud-on-demand"}
    costs = [r["cost_per_million_output_tokens"] for r in rows]
    assert costs == sorted(costs) and all(r["tokens_per_s_per_user"] >= 100 for r in rows)
    assert out.stat().st_size > 10_000


@pytest.mark.parametrize(("args", "message"), [
    (["--tier", "neocloud"], "tier 'neocloud': allowed:"),
    (["--hardware", "H1000"], "H1000"),
    (["--out", "x.svg"], "ending in .png"),
])
def test_bad_options_exit_2(args, message):
    res = CliRunner().invoke(cli, ["cost-per-token", "--model", "gpt-oss-120b", *args])
    assert res.exit_code == 2 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
