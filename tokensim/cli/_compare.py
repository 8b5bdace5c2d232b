"""``tokensim compare A B [C ...]``: scenarios side by side, the differences from the first, and the drivers."""

from __future__ import annotations

from pathlib import Path

import click

from .._errors import UserError
from .._output import check_output_path, render_table
from ..compare import COMPARE_METRICS, compare_scenarios
from ..config.money import check_currency
from ..config.scenario import load_scenario
from ..plots import compare_chart
from ..resolve.variants import variant
from ._common import cli, emit, fmt_value, format_option, info, scenario_overrides, set_option, warn


def _with(values: tuple[str, ...], count: int, option: str, what: str, example: str) -> dict[int, list[str]]:
    """``OPTION N:WHAT`` values → {scenario index (0-based): [WHAT, ...]}."""
    out: dict[int, list[str]] = {}
    for text in values:
        head, sep, rest = text.partition(":")
        if not sep or not head.strip().isdigit() or not 1 <= int(head) <= count:
            raise UserError(f"{option} {text!r}: allowed: N:{what} with N the scenario's position, 1 to {count} "
                            f"(e.g. {option} {example})")
        out.setdefault(int(head) - 1, []).append(rest)
    return out


def _label(name: str, overrides: list[str]) -> str:
    return name + (f" ({', '.join(overrides)})" if overrides else "")


@cli.command("compare")
@set_option()
@click.argument("scenarios", nargs=-1, required=True)
@click.option("--with", "with_", multiple=True, metavar="N:PATH=VALUE",
              help="override a field of the N-th scenario only (repeatable); --set applies to all")
@click.option("--variant", "variants", multiple=True, metavar="N:KEY",
              help="the N-th scenario as a structural variant (repeatable): before-price-rise, lessee-pays-power, "
                   "debt-tenor-8y")
@click.option("--currency", help="reporting currency (default: the first scenario's)")
@click.option("--out", "out_path", type=click.Path(dir_okay=False),
              help="also draw what moves the unit cost against the first scenario, as a PNG")
@format_option()
def compare_command(scenarios: tuple[str, ...], with_: tuple[str, ...], variants: tuple[str, ...],
                    currency: str | None, out_path: str | None, fmt: str) -> None:
    """Scenarios side by side: unit costs, cost per GPU-hour, NPV, IRRs, DSCR, paybacks, the rent for NPV = 0 and
    the debt a DSCR carries; each one's difference from the first, and the drivers of its unit-cost difference
    (the bridge's exact Shapley split, plus what the bridge factors do not cover)."""
    if len(scenarios) < 2:
        raise UserError(f"SCENARIOS: got {len(scenarios)}; allowed: two or more (the same name twice with --with "
                        "N:PATH=VALUE compares a variant)")
    if out_path is not None:
        if Path(out_path).suffix != ".png":
            raise UserError(f"--out {out_path!r}: allowed: a file name ending in .png")
        check_output_path(out_path, "out_path")
    per = _with(with_, len(scenarios), "--with", "PATH=VALUE", "2:capex.server_price=3.4e6")
    keyed = _with(variants, len(scenarios), "--variant", "KEY", "2:before-price-rise")
    common = list(scenario_overrides())
    loaded = [load_scenario(name, common + per.get(i, [])) for i, name in enumerate(scenarios)]
    labels = [_label(s.name, per.get(i, [])) for i, s in enumerate(loaded)]
    for i, keys in keyed.items():
        for key in keys:
            varied = variant(loaded[i], key)
            if varied is None:
                raise UserError(f"--variant {i + 1}:{key}: does not apply to {loaded[i].name} (allowed where it "
                                "changes something: a recent price rise, power paid by the lessor, debt under 8 years)")
            loaded[i] = varied[1]
            labels[i] += f" [{varied[0]}]"
    if len(set(labels)) < len(labels):
        labels = [f"{i + 1}. {lab}" for i, lab in enumerate(labels)]
    code = check_currency(currency, None, "--currency") if currency is not None else None
    result = compare_scenarios(loaded, labels, currency=code)
    warn(result.warnings)
    if out_path is not None:
        compare_chart(result.to_dict(), out_path)
        info(f"tokensim: wrote {out_path}")
    if fmt == "json":
        emit(result.to_dict(), fmt)
    elif fmt in ("csv", "parquet"):
        emit(result.long_rows(), fmt)
    else:
        emit(None, fmt, table=_table(result))


def _cell(value: float, unit: str, money: bool) -> str:
    if money:
        return fmt_value(value, "money") if abs(value) >= 1000 else fmt_value(value)
    if unit.startswith("fraction"):
        return fmt_value(value, "pct")
    return fmt_value(value, {"years": "years", "x": "ratio"}.get(unit, "number"))


def _table(result) -> str:
    diffs = result.differences()
    rows = []
    for name, unit, money in COMPARE_METRICS:
        row = {"metric": name, "unit": unit.replace("currency", result.currency) if money else unit}
        for i, lab in enumerate(result.labels):
            row[lab] = _cell(result.values[i][name], unit, money)
            if i:
                row[f"Δ {i + 1}"] = _cell(diffs[i][name], unit, money)
        rows.append(row)
    text = render_table(rows, title=f"Scenarios side by side ({result.currency}); Δ = difference from the first")
    for d in result.drivers:
        parts = ", ".join(f"{n.replace('_', ' ')} {v:+.1%}" for n, v in d["cost_change_alone"].items()
                          if abs(v) > 5e-4)
        text += (f"Blended unit cost, {d['label']} vs {result.labels[0]}: {d['change']:+.1%} "
                 f"({parts or 'no factor moves it'}; each factor's change alone, exact Shapley split of ln(cost))\n")
    return text
