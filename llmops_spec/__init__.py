"""llmops_spec: the spec language of llmops, as pure pydantic models.

No file or network I/O here, and no import of the compiler or the runners.
"""

from llmops_spec.base import API_VERSION, Metadata
from llmops_spec.kinds import KINDS, AnyDocument, Dataset, Deployment, Document, EvalGate, Model, Policy, Prompt, Waiver
from llmops_spec.metrics import METRICS, MetricInfo
from llmops_spec.refs import KIND_NAMES, Ref, RefTo

__all__ = [
    "API_VERSION", "KINDS", "KIND_NAMES", "METRICS", "AnyDocument", "Dataset", "Deployment", "Document", "EvalGate",
    "Metadata", "MetricInfo", "Model", "Policy", "Prompt", "Ref", "RefTo", "Waiver",
]
