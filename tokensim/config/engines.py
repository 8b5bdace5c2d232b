"""The serving-engine catalogue (``configs/engines.yaml``): each engine's defaults the performance model reads.

One default so far: the largest decode batch per data-parallel group an engine replays from CUDA graphs
(``cuda_graph_max_batch``); larger batches run eagerly and pay the eager per-layer cost (:mod:`tokensim.perf._core`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from ._spec import Number, SchemaSection, Source, Text, validate_document
from .reader import load_yaml

__all__ = ["Engine", "EnginesSchema", "load_engines_file"]


@dataclass(frozen=True)
class Engine:
    name: str
    cuda_graph_max_batch: int  # decode sequences per DP group replayed from CUDA graphs by default
    source: str
    description: str = ""
    aliases: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "aliases": list(self.aliases),
                "cuda_graph_max_batch": self.cuda_graph_max_batch, "source": self.source}


class EngineSchema(SchemaSection):
    """One serving engine and its defaults."""

    cuda_graph_max_batch: Annotated[int, Number(1, 65536, integer=True,
                                                  unit="decode sequences per data-parallel group")]
    source: Annotated[str, Source()]
    description: Annotated[str, Text()] | None = Field(None)
    aliases: list[Any] | None = Field(None)


class EnginesSchema(SchemaSection):
    """``configs/engines.yaml``: the serving engines."""

    engines: dict[str, EngineSchema]
    source: Any = Field(None)


def load_engines_file(path: str | Path) -> dict[str, Engine]:
    """Read and validate the engines file (:class:`EnginesSchema`), every error reported at once.

    Parameters
    ----------
    path : str or pathlib.Path
        A YAML file in the format of ``configs/engines.yaml``.

    Returns
    -------
    dict[str, Engine]
        The engines by name, in the file's order.

    Raises
    ------
    ConfigError
        One error, or a :class:`~tokensim.ConfigErrors` with one line per error.
    """
    m = validate_document(EnginesSchema, load_yaml(path), str(path))
    return {name: Engine(name, int(e.cuda_graph_max_batch), e.source, e.description or "",
                         tuple(str(a) for a in e.aliases or ()))
            for name, e in m.engines.items()}
