"""``tokensim perf``: tokens per second per GPU at the operating point (or the Pareto frontier).

Deployments (:data:`tokensim.perf.POOL_SYNTAX`): one instance with ``--gpus/--tp/--ep``; a disaggregated deployment
with ``--prefill 3xTEP4 --decode 1xDEP32`` (N instances of a layout KIND G: TP, TEP, DEP or DTP on G GPUs each); with no
layout given the instance size and layout are searched (aggregated and disaggregated unless ``--mode`` names one;
``--no-search`` evaluates the default instance alone, as ``tokensim run`` does). ``--mode decode --decode 2xA8+2xF8``
decodes on an attention-FFN disaggregated deployment (:data:`tokensim.perf.AFD_SYNTAX`).
"""

from __future__ import annotations

import re

import click

from .._errors import ConfigError, ParameterError, UserError
from .._output import render_table
from ..config import check_number
from ..config.catalog import load_catalog
from ..config.schema import field_spec
from ..perf import MODES, POOL_SYNTAX, SLO, Workload, predict
from ..perf.efficiency import ENGINES
from ._common import cli, emit, format_option, info

_TABLE_FIELDS = ("hardware", "model", "precision", "compute_format", "weight_only", "mode", "gpus", "tp", "ep",
                 "concurrency", "output_tokens_per_s_per_gpu", "output_tokens_per_s_per_gpu_low",
                 "output_tokens_per_s_per_gpu_high", "input_tokens_per_s_per_gpu", "tokens_per_s_per_user", "ttft_s",
                 "tpot_s", "bound", "weights_gb_per_gpu", "kv_cache_gb_per_gpu", "max_concurrency", "fits",
                 "meets_slo")
_DEPLOYMENT_FIELDS = ("layout", "prefill_pool", "decode_pool", "total_gpus", "bottleneck", "prefill_gpu_share",
                      "expert_load_imbalance")
_PARETO_FIELDS = ("concurrency", "tokens_per_s_per_user", "output_tokens_per_s_per_gpu", "ttft_s", "tpot_s", "bound",
                  "layout")


def _positive(name: str, value, integer: bool = False, low: float = 0.0, low_open: bool = True, high=None):
    if value is None:
        return None
    return check_number(value, None, name, low=low, low_open=low_open, high=high, integer=integer)


def _declared(flag: str, key: str, value, low: float | None = None):
    """An option checked against the range the scenario schema declares for ``serving.<key>`` (one declared range
    for a file and the command line), with the bound's reason where the schema gives one; ``low`` (closed) replaces
    the declared lower bound where the command needs a stricter one."""
    spec = field_spec("serving", key)
    low_open = spec.low_open if low is None else False
    try:
        if value is None:
            return None
        return check_number(value, None, flag, low=spec.low if low is None else low, high=spec.high,
                            low_open=low_open, high_open=spec.high_open, integer=spec.integer)
    except ConfigError as exc:
        if not spec.bound_why:
            raise
        raise ConfigError(None, flag, value, f"{exc.allowed} ({spec.bound_why})") from None


# Library messages name deployment parameters as ``tp=8``; the command shows the options typed (``--tp 8``).
_FLAG_VALUES = re.compile(r"\b(gpus|tp|ep|concurrency)=(\S+)")


def _flag_wording(exc: UserError) -> UserError:
    """A library error in this command's option wording (``tp=2 must divide gpus=3`` -> ``--tp 2 must divide --gpus
    3``, ``use more gpus`` -> ``use more --gpus``). Catalogue and parameter errors pass through: the command group
    names their options."""
    if isinstance(exc, (ConfigError, ParameterError)):
        return exc
    text = _FLAG_VALUES.sub(lambda m: f"--{m[1]} {m[2]}", str(exc)).replace("use more gpus", "use more --gpus")
    text = text.replace("or offload_weights", "or --offload-weights")
    return UserError(text)


def _default_acceptance(model: str | None, draft_tokens: int) -> float:
    """The acceptance length when ``--speculative-acceptance-length`` is not given: 1 without drafts, else the model's
    sourced default for ``draft_tokens`` (catalogue ``speculative.acceptance_length``), announced on stderr.

    Raises
    ------
    UserError
        When the model has no sourced default for that draft length (the option is then required).
    """
    if not draft_tokens:
        return 1.0
    spec = load_catalog().get_model(model, "model") if model else None
    if spec is None:  # --model missing: the command's own check names it
        return 1.0
    acceptance = spec.default_acceptance_length(draft_tokens)
    if acceptance is None:
        known = ", ".join(str(k) for k, _ in spec.speculative_acceptance)
        raise UserError(f"--speculative-acceptance-length: required with --speculative-draft-tokens {draft_tokens} "
                        f"for model '{spec.name}': it has no sourced acceptance for {draft_tokens} draft tokens "
                        f"(defaults: {'for ' + known + ' draft tokens' if known else 'none'}); allowed: a number in "
                        f"[1, {1 + draft_tokens}]")
    info(f"note: --speculative-acceptance-length {acceptance:g}: {spec.name}'s default for {draft_tokens} draft "
         f"tokens ({spec.speculative_source})")
    return acceptance


def _envelope_note(points) -> None:
    """One stderr line when points lie outside the validated envelope (``extrapolation``), with the tests they fail
    as the model states them (``extrapolation_reason``; tokensim.perf.envelope)."""
    reasons = list(dict.fromkeys(p.extrapolation_reason or "outside" for p in points if p.extrapolation))
    if reasons:
        shown = "; ".join(reasons[:3]) + (f"; and {len(reasons) - 3} more" if len(reasons) > 3 else "")
        info(f"note: extrapolation: {points[0].hardware} x {points[0].model}: {shown}; "
             "see docs/model-notes.md, 'The validated envelope'")


@cli.command("perf")
@click.option("--hardware", required=True, help="accelerator name (tokensim catalog hardware)")
@click.option("--model", required=True, help="model name (tokensim catalog models)")
@click.option("--precision", required=True, help="precision recipe (tokensim catalog precisions)")
@click.option("--input-tokens", type=float, required=True, help="input (prompt) tokens per request")
@click.option("--output-tokens", type=float, required=True, help="output tokens per request")
@click.option("--gpus", type=int, help="GPUs per serving instance (default: smallest that fits with KV room)")
@click.option("--tp", type=int, help="tensor-parallel size")
@click.option("--ep", type=int, help="expert-parallel size (MoE models)")
@click.option("--prefill", help=f"disaggregated: the prefill pool, {POOL_SYNTAX}")
@click.option("--decode", help="disaggregated: the decode pool (as --prefill), e.g. 1xDEP32; or, alone with --mode "
                                "decode, an attention-FFN disaggregated deployment, e.g. 2xA8+2xF8 (attention "
                                "instances + FFN instances, StepFun's 2A2F)")
@click.option("--search/--no-search", default=True, show_default=True,
              help="with no --gpus/--tp/--ep/--prefill/--decode/--concurrency: search the instance size and layout "
                   "(TP, TEP, DEP, DTP up to the NVLink domain; aggregated and disaggregated unless --mode names one)")
@click.option("--mode", type=click.Choice((*MODES, "auto")),
              help="serving mode [default: aggregated; disaggregated with --prefill/--decode; auto (the better of "
                   "aggregated and disaggregated) when searching]")
@click.option("--context-tokens", type=float, help="mean context for --mode decode (default input + output/2)")
@click.option("--kv-cache-precision", help="override the recipe's KV-cache format (e.g. bf16, fp8)")
@click.option("--cache-hit-rate", type=float, default=0.0, show_default=True,
              help="share of input tokens served from the prefix cache")
@click.option("--prefill-chunk-tokens", type=float,
              help="new tokens per prefill pass, the engine's chunked-prefill size; 0: unchunked, the whole prompt in "
                   "one pass [default: the calibration's prefill_chunk_tokens]")
@click.option("--engine", help=f"serving engine whose fitted decode cost applies: {', '.join(ENGINES)} "
                                "[default: none, a typical engine: the geometric mean of the factors of the engines "
                                "serving on the hardware's vendor]")
@click.option("--expert-load-balancing/--no-expert-load-balancing", default=False, show_default=True,
              help="the engine runs expert-parallel load balancing (EPLB, redundant hot experts): the busiest EP "
                   "rank's load falls from 1 + 1.28·z(R)/sqrt(experts per rank) times the mean to 1 + 0.15·z(R)/"
                   "sqrt(experts per rank) (vLLM, SGLang and TensorRT-LLM run it only when asked)")
@click.option("--min-tokens-per-s-per-user", type=float, help="SLO: minimum decode speed per user")
@click.option("--max-ttft-s", type=float, help="SLO: maximum time to first token")
@click.option("--max-tpot-s", type=float, help="SLO: maximum time per output token")
@click.option("--concurrency", type=int, help="fix the number of concurrent sequences instead of searching (with "
              "--prefill/--decode: clients per decode instance, of which those decoding are found by Little's law)")
@click.option("--speculative-draft-tokens", type=int, default=0, show_default=True,
              help="draft tokens verified per decode step (MTP/EAGLE)")
@click.option("--speculative-acceptance-length", type=float,
              help="mean output tokens produced per decode step per sequence [default: with "
                   "--speculative-draft-tokens, the model's sourced default for that draft length (catalogue "
                   "speculative.acceptance_length); else 1]")
@click.option("--pareto", is_flag=True, help="list the throughput-vs-interactivity Pareto frontier")
@click.option("--offload-weights", is_flag=True,
              help="with --gpus/--tp/--ep: weights that do not fit in HBM sit in Grace memory and stream over "
                   "NVLink-C2C every pass (hardware with a coherent host link: GB200, GB300)")
@click.option("--calibration", type=click.Path(exists=True, dir_okay=False), help="calibration YAML to use")
@format_option()
def perf_command(hardware, model, precision, input_tokens, output_tokens, gpus, tp, ep, prefill, decode, search, mode,
                 context_tokens,
                 kv_cache_precision, cache_hit_rate, prefill_chunk_tokens, engine, expert_load_balancing,
                 min_tokens_per_s_per_user,
                 max_ttft_s,
                 max_tpot_s, concurrency,
                 speculative_draft_tokens, speculative_acceptance_length, pareto, offload_weights, calibration,
                 fmt):
    """Tokens per second per GPU, per user, TTFT and TPOT at the best operating point meeting the SLOs."""
    speculative_draft_tokens = _declared("--speculative-draft-tokens", "speculative_draft_tokens",
                                         speculative_draft_tokens)
    if speculative_acceptance_length is None:
        speculative_acceptance_length = _default_acceptance(model, speculative_draft_tokens)
    workload = Workload(
        input_tokens=_declared("--input-tokens", "input_tokens", input_tokens, low=1),
        output_tokens=_declared("--output-tokens", "output_tokens", output_tokens, low=1),
        # a context is a prompt plus output: at most two requests' lengths
        context_tokens=_positive("--context-tokens", context_tokens, low=1, low_open=False,
                                 high=2 * field_spec("serving", "input_tokens").high),
        cache_hit_rate=_declared("--cache-hit-rate", "cache_hit_rate", cache_hit_rate),  # [0, 1] as in a scenario
        speculative_draft_tokens=speculative_draft_tokens,
        speculative_acceptance_length=_positive("--speculative-acceptance-length", speculative_acceptance_length,
                                                low=1, low_open=False, high=1 + speculative_draft_tokens),
        prefill_chunk_tokens=_positive("--prefill-chunk-tokens", prefill_chunk_tokens, integer=True, low=0,
                                       low_open=False, high=field_spec("serving", "input_tokens").high),
        engine=engine,
        expert_load_balancing=expert_load_balancing,
    )
    slo = SLO(_positive("--min-tokens-per-s-per-user", min_tokens_per_s_per_user),
              _positive("--max-ttft-s", max_ttft_s), _positive("--max-tpot-s", max_tpot_s))
    for name, value in (("--gpus", gpus), ("--tp", tp), ("--ep", ep), ("--concurrency", concurrency)):
        _positive(name, value, integer=True, low=1, low_open=False)
    try:
        prediction = predict(hardware, model, precision, workload, mode=mode, slo=slo, concurrency=concurrency,
                             gpus=gpus, tp=tp, ep=ep, kv_cache_precision=kv_cache_precision, pareto=pareto,
                             calibration_path=calibration, prefill=prefill, decode=decode, search=search,
                             offload_weights=offload_weights)
    except UserError as exc:
        raise _flag_wording(exc) from None
    _envelope_note(prediction if isinstance(prediction, list) else [prediction])
    if not isinstance(prediction, list) and prediction.waiting_sequences and prediction.prefill_sequences is not None:
        limit = "the prefill pool's rate" if prediction.bottleneck == "prefill" else "the decode slots in memory"
        info(f"note: of --concurrency {concurrency} clients per decode instance, {prediction.concurrency:,.0f} decode, "
             f"{prediction.prefill_sequences:,.0f} in prefill or KV transfer and "
             f"{prediction.waiting_sequences:,.0f} wait for {limit}; TTFT includes the wait")
    elif not isinstance(prediction, list) and prediction.waiting_sequences:
        served, waiting = prediction.concurrency, prediction.waiting_sequences
        info(f"note: --concurrency {concurrency} exceeds the memory limit of {served:,.0f} sequences per instance: "
             f"{served:,.0f} are served at a time and {waiting:,.0f} wait; throughput is the served batch's, tokens/s "
             "per user and TTFT include the wait")
    unconstrained = (not isinstance(prediction, list) and concurrency is None
                     and all(v is None for v in (min_tokens_per_s_per_user, max_ttft_s, max_tpot_s)))
    if unconstrained:  # issue 16: a max-throughput point at a few tokens/s per user was reported without a word
        info(f"note: no speed target: this is the maximum-throughput point, "
             f"{prediction.tokens_per_s_per_user:.3g} tokens/s per user; for a point that is sold at a per-user "
             "speed give --min-tokens-per-s-per-user, --max-ttft-s or --max-tpot-s")
    if isinstance(prediction, list):
        rows = [p.to_dict() for p in prediction]
        title = f"Pareto frontier: {hardware} {model} {precision} ({prediction[0].mode if prediction else mode})"
        emit(rows, fmt, table=render_table(rows, title=title, columns=_PARETO_FIELDS) if fmt == "table" else None)
    else:
        result = prediction.to_dict()
        emit(result, fmt, table=render_table({k: result.get(k) for k in (*_TABLE_FIELDS, *_DEPLOYMENT_FIELDS)
                                              if k in result},
                                             title=f"{result['model']} on {result['hardware']}"
                                                   + (" (no speed target)" if unconstrained
                                                      else ""))
             if fmt == "table" else None)
