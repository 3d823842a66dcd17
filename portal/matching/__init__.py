"""The matching engine: plain data in, the best set of pairings (with reasons) out.

Pure Python over dataclasses, numpy and OR-Tools; it imports nothing from Flask, the models or the services,
so it can be run, tested and benchmarked on its own (`Instance.from_json(...)` then `solve(...)`).
See docs/matching.md for the model, the weights and the instance format.
"""
from portal.matching.engine import solve
from portal.matching.model import (
    FORMAT_VERSION,
    INSTANCE_FORMAT,
    Held,
    History,
    Instance,
    InstanceError,
    OfferInput,
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
