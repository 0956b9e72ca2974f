"""The seven kinds as complete documents (envelope + spec), and what each may output."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from llmops_spec.base import API_VERSION, Metadata, Strict
from llmops_spec.dataset import DatasetSpec
from llmops_spec.deployment import DeploymentSpec
from llmops_spec.evalgate import EvalGateSpec
from llmops_spec.model import ModelSpec
from llmops_spec.policy import PolicySpec, WaiverSpec
from llmops_spec.prompt import PromptSpec


class Document(Strict):
    api_version: Literal["llmops/v1"] = Field(alias="apiVersion")
    metadata: Metadata


class Dataset(Document):
    """Where data comes from, how it is cleaned and how it is split."""

    kind: Literal["Dataset"]
    spec: DatasetSpec


class Prompt(Document):
    """A sandboxed Jinja template and the source of each variable."""

    kind: Literal["Prompt"]
    spec: PromptSpec


class Model(Document):
    """A base model, an optional fine-tune, and post-processing."""

    kind: Literal["Model"]
    spec: ModelSpec


class EvalGate(Document):
    """Thresholds a model must meet on a dataset before it may be deployed."""

    kind: Literal["EvalGate"]
    spec: EvalGateSpec


class Deployment(Document):
    """A model served on Ray Serve once its gates have passed."""

    kind: Literal["Deployment"]
    spec: DeploymentSpec


class Policy(Document):
    """A CEL rule every matching resource must satisfy."""

    kind: Literal["Policy"]
    spec: PolicySpec


class Waiver(Document):
    """An owned, expiring exception to a policy for named resources."""

    kind: Literal["Waiver"]
    spec: WaiverSpec


AnyDocument = Dataset | Prompt | Model | EvalGate | Deployment | Policy | Waiver

KINDS: dict[str, type[Document]] = {
    cls.__name__: cls for cls in (Dataset, Prompt, Model, EvalGate, Deployment, Policy, Waiver)
}
"""Every kind by name, in lifecycle order."""

assert API_VERSION == "llmops/v1"
