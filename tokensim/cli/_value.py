"""``tokensim value [SCENARIO]``: what a block of GPUs is worth by what it can still earn (issue 14, items 3-4)."""

from __future__ import annotations

import datetime

import click

from .._errors import UserError
from .._output import render_table
from ..api import run_valuation
from ..config import check_number, config_dir
from ..config.fleet import load_fleet
from ..config.scenario import load_scenario
from ..resolve.valuation import fleet_valuation_blocks
from ._common import cli, emit, format_option, info, scenario_overrides, set_option

_DEFAULT_SCENARIO = "b300-10k-cluster"  # the founding case: its market (CNY) and opex rates
_TABLE_COLUMNS = ("hardware", "gpus", "in_service", "age_years", "value_per_gpu", "book_value_per_gpu",
                  "percent_of_cost_value_per_gpu", "lendable_value_per_gpu", "binding_route",
                  "shutdown_rent_per_gpu_hour", "shutdown_token_price_per_million", "block_value")


def _is_bundled_fleet(name: str) -> bool:
    stem = name[:-5] if name.endswith(".yaml") else name
    return (config_dir() / "fleets" / f"{stem}.yaml").is_file() and not (config_dir() / "scenarios" /
                                                                           f"{stem}.yaml").is_file()


def _this_month() -> str:
    today = datetime.date.today()
    return f"{today.year:04d}-{today.month:02d}"


@cli.command("value")
@set_option()
@click.argument("scenario", default=None, required=False)
@click.option("--hardware", help="the block's accelerator (catalogue name), e.g. H100")
@click.option("--gpus", type=float, help="GPUs in the block")
@click.option("--in-service", "in_service", help="month the block entered service, YYYY-MM")
@click.option("--fleet", "fleet_name", help="value every owned block of a fleet file (tokensim fleet) instead of "
                                            "--hardware/--gpus/--in-service; the market is SCENARIO's, else the first "
                                            "block's")
@click.option("--as-of", "as_of", default=None, help="valuation month YYYY-MM (default: this month)")
@click.option("--rent-change", type=float, default=0.0, show_default=True,
              help="move of the market rent, a fraction (-0.4: rents fall 40%)")
@click.option("--token-price-change", type=float, default=0.0, show_default=True,
              help="move of the market token price, a fraction")
@click.option("--rent", "market_rent_per_gpu_hour", type=float, default=None,
              help="market rent per rented GPU-hour today (default: a sourced reference for the hardware)")
@click.option("--token-price", "token_price_per_million", type=float, default=None,
              help="blended token price per million tokens (default: the scenario's market price)")
@click.option("--cost-per-gpu", type=float, default=None, help="original cost per GPU (default: a sourced reference)")
@click.option("--next-generation", default=None,
              help="month the next generation arrives, YYYY-MM (default: by the hardware's family)")
@click.option("--life-years", type=float, default=None, help="life of a GPU (default: the scenario's economic life)")
@click.option("--decline-per-year", type=float, default=None,
              help="fall a year of earnings after the next generation (default 0.2)")
@click.option("--basis", type=click.Choice(["better", "rent", "tokens"]), default="better", show_default=True,
              help="earnings of a busy GPU-hour: the better of rent and tokens, or one of them")
@click.option("--enterprise-value", type=float, default=None,
              help="an enterprise value: reports the flat rent it implies (a reverse DCF)")
@click.option("--paths", type=int, default=2000, show_default=True, help="Monte Carlo paths for the lender's P90")
@click.option("--seed", type=int, default=0, show_default=True, help="Monte Carlo seed")
@format_option()
def value_command(scenario, hardware, gpus, in_service, fleet_name, as_of, rent_change, token_price_change,
                  market_rent_per_gpu_hour, token_price_per_million, cost_per_gpu, next_generation, life_years,
                  decline_per_year, basis, enterprise_value, paths, seed, fmt) -> None:
    """Value per GPU by what it can still earn (tokens or rent), against book value and the percent-of-cost curve; the
    lender's P90 value; the shutdown rent and token price; with --enterprise-value, the rent it implies."""
    blocks = None
    skipped: list[str] = []
    if fleet_name is None and scenario is not None and _is_bundled_fleet(scenario):
        fleet_name, scenario = scenario, None  # `tokensim value FLEET`: a bundled fleet's name in SCENARIO's place
    if fleet_name is not None:
        given = [o for o, v in (("--hardware", hardware), ("--gpus", gpus), ("--in-service", in_service))
                 if v is not None]
        if given:
            raise UserError(f"--fleet with {', '.join(given)}: allowed: a fleet, or one block's --hardware, --gpus "
                            "and --in-service")
        fleet = load_fleet(fleet_name)
        s = load_scenario(scenario, scenario_overrides()) if scenario else fleet.blocks[0].scenario
        blocks, skipped = fleet_valuation_blocks(fleet, as_of or _this_month())
        if not blocks:
            raise UserError(f"--fleet {fleet_name}: no owned block to value (leased-in blocks are the lessor's)")
    else:
        missing = [o for o, v in (("--hardware", hardware), ("--gpus", gpus), ("--in-service", in_service))
                   if v is None]
        if missing:
            raise UserError(f"{', '.join(missing)}: missing; allowed: --hardware, --gpus and --in-service (one "
                            "block), or --fleet FLEET")
        s = load_scenario(scenario or _DEFAULT_SCENARIO, scenario_overrides())
        check_number(gpus, None, "--gpus", low=0, low_open=True)
    check_number(paths, None, "--paths", low=0, high=1_000_000, integer=True)
    check_number(seed, None, "--seed", low=0, high=2**64 - 1, integer=True)
    for value, option in ((market_rent_per_gpu_hour, "--rent"), (token_price_per_million, "--token-price"),
                          (cost_per_gpu, "--cost-per-gpu")):
        if value is not None:
            check_number(value, None, option, low=0)
    if as_of is None:
        as_of = _this_month()
    result = run_valuation(s, blocks, hardware=hardware, gpus=gpus, in_service=in_service, as_of=as_of,
                           rent_per_gpu_hour=market_rent_per_gpu_hour, cost_per_gpu=cost_per_gpu,
                           next_generation=next_generation, rent_change=rent_change,
                           token_price_change=token_price_change, token_price_per_million=token_price_per_million,
                           life_years=life_years, decline_per_year=decline_per_year, basis=basis, paths=paths,
                           seed=seed, enterprise_value=enterprise_value)
    if skipped:
        info(f"tokensim: not valued (leased in, the lessor's asset): {', '.join(skipped)}")
    if fmt == "json":
        emit({"scenario": s.name, **result.to_dict(), **({"not_valued": skipped} if fleet_name else {})}, fmt)
    elif fmt in ("csv", "parquet"):
        emit(result.rows(), fmt)
    else:
        rows = [{k: row[k] for k in _TABLE_COLUMNS} for row in result.rows()]
        title = (f"{s.name}: value of GPUs by what they can still earn at {result.as_of} ({result.currency}); "
                 f"fleet {result.fleet_value:,.0f}")
        emit(None, fmt, table=render_table(rows, title=title) + "\n" + "\n".join(result.reading) + "\n")
