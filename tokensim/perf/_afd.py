"""Attention-FFN disaggregation (AFD): decode with the attention layers and the FFN layers on separate GPUs.

StepFun serves Step-3 so (Step-3 system report, arXiv:2507.19427v1, 2025-07-25, sections 3 and 7; the PDF is
github.com/stepfun-ai/Step3 ``Step3-Sys-Tech-Report.pdf``): attention instances hold the attention weights, the
router, the embedding and the output head, and every sequence's KV cache, each GPU serving its own sequences
(data-parallel attention); FFN instances hold the FFN weights, the routed experts expert-parallel across the FFN
instances and tensor-parallel inside each. Every layer, each attention GPU sends its tokens' hidden states to the FFN
side in the activation format (FP8) and receives the FFN output in BF16 (StepMesh over RDMA). Micro-batches keep
both sides busy: attention of one micro-batch, the transfer of another and the FFN of a third run at once, a
three-stage pipeline filled by three micro-batches (:data:`AFD_MICRO_BATCHES`).

A deployment is written ``N x A G + M x F H`` (:data:`AFD_SYNTAX`): ``2xA8+2xF8`` is StepFun's "2A2F", two 8-GPU
attention instances and two 8-GPU FFN instances. :func:`afd_decode_step` composes one decode step from the step
model of one attention GPU (the model without its FFN) and that of the FFN GPUs (the model without its attention),
both built by ``perf._model.build_afd_step_models`` with the same arithmetic (:mod:`tokensim.perf._core`) and the same
fitted efficiency factors as every other layout; nothing here is fitted.

Per layer and micro-batch of b sequences per attention GPU (A attention GPUs, F FFN GPUs in instances of g):

* attention stage: one attention GPU's share of the step's compute and memory time (roofline over its weights, its
  KV reads and its FLOPs, :func:`tokensim.perf._core.decode_step`) / layers, plus the per-layer fixed cost (graph mode
  while b is within the capture size) and the per-layer cost per token (``layer_token_overhead_s`` x b);
* transfer stage: per GPU, on the busier side, the tokens' hidden states out (activation bytes) and back (BF16 bytes)
  over the scale-out NIC at the fitted network efficiency, plus one RDMA fan-out latency each way (the assumption
  the step model makes for expert-parallel traffic across scale-up domains, 50 us);
* FFN stage: the FFN GPUs' share of the step's compute and memory time for the b x A tokens / layers (expert
  imbalance as for expert parallelism), the per-layer fixed cost, and inside each FFN instance an all-gather of its
  tokens before the experts (in the activation format they arrive in) and a reduce-scatter of the BF16 partial
  outputs after them over NVLink (ring traffic, (g - 1)/g of each per GPU, at the fitted network efficiency, plus two
  collective latencies; Step-3 report section 7.1: "TP inside a node uses NVLS all-gather / reduce-scatter"). Like
  the step model's other collectives, it is not overlapped with compute (``comm_overlap`` 0 unless fitted).

With m micro-batches a layer takes max(m x the slowest stage, the three stages in a row) (each resource serves every
micro-batch once per layer, and a micro-batch cannot start its next layer before its FFN output is back); a decode
step takes layers x that, plus the step's fixed cost and the per-sequence cost for the attention GPU's m x b
sequences. Throughput per GPU counts every attention and FFN GPU.

Assumptions, besides those of the step model: the per-layer fixed cost is paid by each side for each micro-batch
(both run their own kernels per layer), at the graph-mode rate while the attention GPU's micro-batch is within the
capture size; the per-token cost falls on the attention side (it scales with the sequences a GPU holds); every token
visits every FFN instance (StepMesh's traffic figures for 2A2F assume so: 2 x 128 tokens per FFN GPU per layer); the
dense layers' FFNs and the shared experts are tensor-parallel in each FFN instance, read by each. Not modelled:
speculative decoding (a draft module would sit on the attention side), prefill beside an AFD decode pool (decode mode
only) and the search over AFD layouts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._errors import ParameterError
from .._xp import array_namespace
from . import _core as core

__all__ = ["AFD_MICRO_BATCHES", "AFD_SYNTAX", "AfdPool", "is_afd", "parse_afd", "afd_decode_step"]

# StepFun Step-3 system report (arXiv:2507.19427v1) section 3.1: a three-stage pipeline (attention, communication,
# FFN) and section 7.3: the 2A2F batch of 6,144 split "into three micro-batches of 2,048" to fill it.
AFD_MICRO_BATCHES = 3
AFD_SYNTAX = ("N x A G + M x F H: N attention instances of G GPUs (attention data-parallel over every GPU) and M FFN "
              "instances of H GPUs (experts expert-parallel over the M instances, tensor-parallel inside each), e.g. "
              "2xA8+2xF8 (StepFun's 2A2F)")
_AFD_TEXT = re.compile(r"^(\d+)\s*[x×*]\s*A\s*(\d+)\s*\+\s*(\d+)\s*[x×*]\s*F\s*(\d+)$", re.IGNORECASE)
# looks like an AFD pool (an A part and an F part joined by +), checked by parse_afd
_AFD_LIKE = re.compile(r"A\s*\d+.*\+.*F\s*\d+", re.IGNORECASE)
# the FFN output returns in BF16 (Step-3 report section 7.1), as the step model's combines and reductions do
_REDUCE_BYTES = core._REDUCE_BYTES
# one RDMA fan-out latency per transfer: the step model's assumption for expert-parallel traffic across scale-up
# domains (_core._LL_LATENCY_SCALE_OUT_S, 50 us)
_LINK_LATENCY_S = core._LL_LATENCY_SCALE_OUT_S


@dataclass(frozen=True)
class AfdPool:
    """An attention-FFN disaggregated decode deployment: attention instances and FFN instances of whole GPUs."""

    attention_instances: int
    attention_gpus_per_instance: int
    ffn_instances: int
    ffn_gpus_per_instance: int

    @property
    def attention_gpus(self) -> int:
        return self.attention_instances * self.attention_gpus_per_instance

    @property
    def ffn_gpus(self) -> int:
        return self.ffn_instances * self.ffn_gpus_per_instance

    @property
    def gpus(self) -> int:
        return self.attention_gpus + self.ffn_gpus

    @property
    def label(self) -> str:
        return (f"{self.attention_instances}xA{self.attention_gpus_per_instance}+"
                f"{self.ffn_instances}xF{self.ffn_gpus_per_instance}")


def is_afd(text: object) -> bool:
    """Whether a pool is (or is written as) an attention-FFN disaggregated deployment (checked by :func:`parse_afd`)."""
    return isinstance(text, AfdPool) or bool(isinstance(text, str) and _AFD_LIKE.search(text))


def parse_afd(text: str | AfdPool, param: str = "decode") -> AfdPool:
    """An AFD deployment from its text, ``N x A G + M x F H`` (:data:`AFD_SYNTAX`): ``2xA8+2xF8``.

    Parameters
    ----------
    text : str or AfdPool
        The deployment as written (spaces, ``x``/``X``/``×``/``*`` and case do not matter); an :class:`AfdPool` is
        returned as it is.
    param : str
        The parameter errors name (the CLI shows ``--decode``).

    Returns
    -------
    AfdPool

    Raises
    ------
    ParameterError
        Text not of that form, or a count or size below 1.
    """
    if isinstance(text, AfdPool):
        return text
    m = _AFD_TEXT.match(str(text).strip())
    if m is None:
        raise ParameterError(param, f"{text!r}: allowed: {AFD_SYNTAX}")
    pool = AfdPool(*(int(v) for v in m.groups()))
    if min(pool.attention_instances, pool.attention_gpus_per_instance, pool.ffn_instances,
           pool.ffn_gpus_per_instance) < 1:
        raise ParameterError(param, f"{text!r}: instances and GPUs per instance must be at least 1")
    return pool


def afd_decode_step(attention: core.StepModel, ffn: core.StepModel, pool: AfdPool, batch, context,
                    micro_batches: int = AFD_MICRO_BATCHES) -> dict:
    """One decode step of an AFD deployment (arrays broadcast together; NumPy or CuPy).

    Parameters
    ----------
    attention : StepModel
        One attention GPU: the model without its FFN weights and FLOPs, one GPU, its own data-parallel group.
    ffn : StepModel
        The FFN GPUs: the model without its attention, ``pool.ffn_gpus`` GPUs, expert parallel over the FFN instances,
        tensor parallel inside each.
    pool : AfdPool
        The deployment.
    batch : array_like
        Sequences per attention GPU, over all micro-batches.
    context : array_like
        Mean context per sequence, tokens.
    micro_batches : int
        Micro-batches in flight (:data:`AFD_MICRO_BATCHES`).

    Returns
    -------
    dict of arrays
        Per layer and micro-batch ``t_attention_s``, ``t_transfer_s``, ``t_ffn_s``; per step ``t_step_s``;
        ``bound`` (0 compute, 1 memory, 2 communication: the slowest stage's).
    """
    xp = array_namespace(batch, context)
    phase = attention.efficiency.decode
    layers = attention.layers
    b = batch / micro_batches  # sequences per attention GPU in one micro-batch
    tokens = b * attention.spec_tokens_per_step
    att = core.decode_step(attention, b, context)
    ffn_tokens = tokens * pool.attention_gpus  # one micro-batch of every attention GPU
    ffn_step = core.decode_step(ffn, ffn_tokens, context)
    layer_cost = core.decode_layer_cost(phase, b, xp)
    t_att_roof = xp.maximum(att["t_compute_s"], att["t_memory_s"]) / layers
    t_attention = t_att_roof + layer_cost + phase.layer_token_overhead_s * tokens
    g = pool.ffn_gpus_per_instance
    # the instance's tokens gathered to every GPU in the format they arrived in, the partial outputs reduce-scattered
    # in BF16: ring traffic (g - 1)/g of each per GPU
    ring = (g - 1) / g * ffn_tokens * ffn.hidden_size * (ffn.activation_bytes + _REDUCE_BYTES)
    t_ffn_tp = (1.0 - phase.comm_overlap) * (g > 1) * (ring * ffn.tp_seconds_per_byte / phase.network_efficiency
                                                       + 2.0 * phase.collective_latency_s)
    t_ffn_roof = xp.maximum(ffn_step["t_compute_s"], ffn_step["t_memory_s"]) / layers
    t_ffn = t_ffn_roof + layer_cost + t_ffn_tp
    per_token = ffn.hidden_size * (ffn.activation_bytes + _REDUCE_BYTES)  # out in the activation format, back in BF16
    per_attention_gpu = tokens * pool.ffn_instances * per_token
    per_ffn_gpu = ffn_tokens * pool.ffn_instances / pool.ffn_gpus * per_token
    t_transfer = (xp.maximum(per_attention_gpu, per_ffn_gpu) * ffn.scale_out_seconds_per_byte
                  / phase.network_efficiency + 2.0 * _LINK_LATENCY_S)
    stage = xp.maximum(xp.maximum(t_attention, t_transfer), t_ffn)
    per_layer = xp.maximum(micro_batches * stage, t_attention + t_transfer + t_ffn)
    t_step = layers * per_layer + phase.step_overhead_s + phase.sequence_overhead_s * batch
    att_bound = xp.where(att["t_compute_s"] >= att["t_memory_s"], 0, 1)
    ffn_bound = xp.where(t_ffn_tp > t_ffn_roof, 2, xp.where(ffn_step["t_compute_s"] >= ffn_step["t_memory_s"], 0, 1))
    bound = xp.where(t_transfer >= stage, 2, xp.where(t_ffn >= stage, ffn_bound, att_bound))
    return {"t_attention_s": t_attention, "t_transfer_s": t_transfer, "t_ffn_s": t_ffn, "t_step_s": t_step,
            "bound": bound}
