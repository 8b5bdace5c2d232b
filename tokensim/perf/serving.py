"""The operating point money is priced at (issue 11): one rule for every command that prices a serving point.

``tokensim run``, ``bridge``, ``compare``, ``cost-per-token``, ``value``, the sweep's layouts and the star of
``tokensim plot pareto`` all take their tokens/s per GPU from :func:`serving_point` (or its instance from
:func:`serving_instance`):

* a layout pinned for the (hardware, model) priced (:class:`LayoutPin`: a scenario's ``serving.instance_gpus``,
  ``tensor_parallel``, ``expert_parallel`` for its own hardware and model) is priced as ``tokensim perf --gpus --tp
  --ep`` prices it: the sizes not given are :func:`~tokensim.perf.default_deployment`'s, the batch is searched under
  the SLO and no other layout is tried;
* otherwise the layout search's best aggregated layout under the SLO (:func:`~tokensim.perf.search_layout` with
  ``mode="aggregated"``: every TP, TEP, DEP and DTP layout of every instance size, the one serving the most output
  tokens/s per GPU within the SLO), as ``tokensim perf --mode aggregated`` finds it with no layout given.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .._errors import ConfigError, ParameterError, UserError
from ..config.catalog import load_catalog
from ._model import SLO, Instance, Prediction, Workload, instance, predict, search_layout

__all__ = ["LayoutPin", "serving_instance", "serving_point"]

_NO_SLO = SLO()
_GB = 1e9
_GIB = 2.0**30
# LayoutPin attribute -> the scenario field that gives it, and the predict parameter its errors name
_FIELDS = (("gpus", "instance_gpus"), ("tp", "tensor_parallel"), ("ep", "expert_parallel"))


@dataclass(frozen=True)
class LayoutPin:
    """A serving layout given for one (hardware, model): GPUs per instance, tensor-parallel and expert-parallel sizes.

    Attributes
    ----------
    hardware, model : str
        Catalogue names the pin applies to (any precision).
    gpus, tp, ep : int or None
        The sizes given; None: :func:`~tokensim.perf.default_deployment`'s.
    file : str or None
        Where the pin was written (a scenario file): errors name it.
    section : str
        The dotted section whose fields gave the pin (``serving``): errors name ``serving.tensor_parallel`` ...
    """

    hardware: str
    model: str
    gpus: int | None = None
    tp: int | None = None
    ep: int | None = None
    file: str | None = None
    section: str = "serving"

    def error(self, detail: str, param: str | None, what: str) -> ConfigError:
        """The pin's error: the field at fault (``param`` gpus/tp/ep when known, else the first given)."""
        given = [(attr, key) for attr, key in _FIELDS if getattr(self, attr) is not None]
        attr, key = next(((a, k) for a, k in given if a == param), given[0])
        return ConfigError(self.file, f"{self.section}.{key}", getattr(self, attr), f"a layout that {what}", detail)


def _pin_for(pins: Sequence[LayoutPin], hardware: str, model: str) -> LayoutPin | None:
    return next((p for p in pins if (p.hardware, p.model) == (hardware, model)), None)


def _fault(exc: UserError) -> str | None:
    """Which size a deployment error is about: the parameter of a :class:`ParameterError`, else the first ``tp=``,
    ``ep=`` or ``gpus=`` of its message (``tp=3 must divide gpus=8``)."""
    if isinstance(exc, ParameterError) and exc.param in ("gpus", "tp", "ep"):
        return exc.param
    m = re.search(r"\b(gpus|tp|ep)=", str(exc))
    return m[1] if m else None


def serving_instance(hardware: str, model: str, precision: str, workload: Workload, slo: SLO = _NO_SLO, *,
                     pins: Sequence[LayoutPin] = ()) -> Instance:
    """The serving instance priced for (hardware, model, precision): the pinned layout, else the searched one.

    Parameters
    ----------
    hardware, model, precision : str
        Catalogue names (or aliases).
    workload : Workload
        Tokens per request, prefix-cache hit rate, speculative decoding.
    slo : SLO
        Lowest tokens/s per user, longest TTFT and TPOT (s): the search keeps the best layout within them.
    pins : sequence of LayoutPin
        Layouts given per (hardware, model); the one matching is used, the others are ignored.

    Returns
    -------
    Instance
        The instance (its ``deployment`` is the layout priced).

    Raises
    ------
    UserError
        Unknown names; no layout whose weights fit (search); a pinned layout the model cannot run, or whose weights
        do not fit, as a :class:`~tokensim.ConfigError` naming the pin's file and field.
    """
    cat = load_catalog()
    hw, mdl, recipe = cat.get_hardware(hardware, "hardware"), cat.get_model(model, "model"), cat.get_recipe(
        precision, "precision")
    pin = _pin_for(pins, hw.name, mdl.name)
    if pin is None or all(getattr(pin, a) is None for a, _ in _FIELDS):
        return search_layout(hw.name, mdl.name, recipe.name, workload, mode="aggregated", slo=slo).instance
    what = f"serves {mdl.name} at {recipe.name} on {hw.name}"
    try:
        r = instance(hw.name, mdl.name, recipe.name, gpus=pin.gpus, tp=pin.tp, ep=pin.ep, workload=workload)
    except UserError as exc:
        raise pin.error(str(exc), _fault(exc), what) from None
    if not r.step_model.fits_weights:
        usable = r.hardware.hbm_usable_gib * _GIB / _GB * (1 - r.efficiency.workspace_fraction)
        raise pin.error(f"{r.deployment.label}: weights need {r.step_model.weight_bytes_per_gpu / _GB:,.1f} GB per "
                        f"GPU, {usable:,.1f} GB usable after workspace; more GPUs per instance or a smaller precision",
                        "gpus", what)
    return r


def serving_point(hardware: str, model: str, precision: str, workload: Workload, slo: SLO = _NO_SLO, *,
                  pins: Sequence[LayoutPin] = ()) -> Prediction:
    """The operating point priced for (hardware, model, precision): :func:`~tokensim.perf.predict` at the instance of
    :func:`serving_instance`, its batch searched under ``slo``, ``layout`` naming it (``DEP8``).

    Parameters and errors as :func:`serving_instance`.

    Returns
    -------
    Prediction
        The operating point; ``meets_slo`` false when no layout (or, pinned, no batch) meets the SLO.
    """
    dep = serving_instance(hardware, model, precision, workload, slo, pins=pins).deployment
    point = predict(hardware, model, precision, workload, slo=slo, gpus=dep.gpus, tp=dep.tp, ep=dep.ep)
    return dataclasses.replace(point, layout=dep.label)
