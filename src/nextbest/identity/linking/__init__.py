"""Probabilistic record linkage (Fellegi-Sunter, via Splink on DuckDB), configured from the data.

``infer_config`` reads column names, types and values and writes a complete model
specification; ``dedupe`` and ``link`` train it on the data and return scored pairs whose
``weight_<field>`` columns explain each score.
"""

from nextbest.identity.linking.config import FieldSpec, LinkConfig, LinkConfigError
from nextbest.identity.linking.fields import Kind
from nextbest.identity.linking.infer import infer_config
from nextbest.identity.linking.run import LinkResult, dedupe, link

__all__ = [
    "FieldSpec",
    "Kind",
    "LinkConfig",
    "LinkConfigError",
    "LinkResult",
    "dedupe",
    "infer_config",
    "link",
]
