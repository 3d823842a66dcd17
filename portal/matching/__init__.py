"""The matching engine: plain data in, the best set of pairings (with reasons) out.

Pure Python over dataclasses, numpy and OR-Tools; it imports nothing from Flask, the models or the services,
so it can be run, tested and benchmarked on its own (`Instance.from_json(...)` then `solve(...)`).
See docs/matching.md for the model, the weights and the instance format.
"""
from portal.matching.model import (
    FORMAT_VERSION,
    INSTANCE_FORMAT,
    Held,
    History,
    Instance,
    InstanceError,
    OfferInput,
    Paired,
    Proposal,
    RequestInput,
    Result,
    SchoolInput,
    Timings,
    Totals,
    Unmatched,
    YearFigures,
)
from portal.matching.weights import DEFAULT_WEIGHTS, DESCRIPTIONS, Weights


def solve(instance: Instance) -> Result:
    """The best set of pairings for the instance (portal.matching.engine.solve).

    The engine's module is imported here, on the first solve, not with this package: it brings numpy and OR-Tools
    (about 30 MB and a quarter of a second), which a web worker, reading the engine's data classes and never
    solving (matching runs are jobs), does not need (tests/test_web_worker_imports.py)."""
    from portal.matching.engine import solve as solve_now

    return solve_now(instance)

__all__ = [
    "DEFAULT_WEIGHTS",
    "DESCRIPTIONS",
    "FORMAT_VERSION",
    "INSTANCE_FORMAT",
    "Held",
    "History",
    "Instance",
    "InstanceError",
    "OfferInput",
    "Paired",
    "Proposal",
    "RequestInput",
    "Result",
    "SchoolInput",
    "Timings",
    "Totals",
    "Unmatched",
    "Weights",
    "YearFigures",
    "solve",
]
