"""The JSON Schemas: in sync with the models, draft-07 only, and agreeing with the compiler."""

from __future__ import annotations

import json

import jsonschema
import pytest

from compiler.yaml_source import parse_documents
from llmops_spec import KINDS
from llmops_spec.schema import schema_files
from tests.conftest import EXAMPLE, REPO

# Keywords newer than draft-07 that yaml-language-server would not understand.
NEWER_KEYWORDS = {"$defs", "prefixItems", "unevaluatedProperties", "unevaluatedItems", "dependentRequired",
                  "dependentSchemas", "$anchor", "$dynamicRef", "$dynamicAnchor", "minContains", "maxContains"}


def keywords(node, found=None):
    found = set() if found is None else found
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "properties":
                found.add(key)
            keywords(value, found) if key != "properties" else [keywords(v, found) for v in value.values()]
    elif isinstance(node, list):
        for item in node:
            keywords(item, found)
    return found


def test_committed_schemas_are_in_sync():
    files = schema_files()
    committed = {p.name: p.read_text() for p in (REPO / "schemas").glob("*.json")}
    assert committed == files, "run: llmops schema -o schemas"


@pytest.mark.parametrize("name", sorted(schema_files()))
def test_schemas_are_draft07(name):
    schema = json.loads(schema_files()[name])
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert not keywords(schema) & NEWER_KEYWORDS


def example_documents():
    for path in sorted(EXAMPLE.rglob("*.yaml")):
        docs, problems = parse_documents(path.read_text(), path.name)
        assert not problems
        yield from (pytest.param(doc.data, id=f"{path.name}#{doc.index}") for doc in docs)


@pytest.mark.parametrize("document", list(example_documents()))
def test_example_documents_satisfy_the_schemas(document):
    schemas = schema_files()
    jsonschema.Draft7Validator(json.loads(schemas["llmops.schema.json"])).validate(document)
    jsonschema.Draft7Validator(json.loads(schemas[f"{document['kind'].lower()}.schema.json"])).validate(document)


@pytest.mark.parametrize(("kind", "mutate"), [
    ("Model", lambda d: d["spec"].update(lorra=1)),
    ("Model", lambda d: d["spec"]["finetune"]["lora"].update(r=0)),
    ("Dataset", lambda d: d["spec"]["splits"].update(train=1.5)),
    ("Dataset", lambda d: d["spec"]["source"].update(dataset="Dataset/x")),
    ("EvalGate", lambda d: d["spec"]["metrics"][0].update(metric="acuracy")),
    ("Deployment", lambda d: d["spec"].update(model="Dataset/x")),
    ("Dataset", lambda d: d["metadata"].update(name="Bad_Name")),
])
def test_schema_rejects_what_the_compiler_rejects(kind, mutate):
    document = next(p.values[0] for p in example_documents() if p.values[0]["kind"] == kind)
    document = json.loads(json.dumps(document))
    mutate(document)
    schema = json.loads(schema_files()["llmops.schema.json"])
    assert list(jsonschema.Draft7Validator(schema).iter_errors(document))
    with pytest.raises(Exception):
        KINDS[kind].model_validate(document)


def test_the_kind_selects_the_definition():
    schema = json.loads(schema_files()["llmops.schema.json"])
    wrong = {"apiVersion": "llmops/v1", "kind": "Prompt", "metadata": {"name": "p"}, "spec": {"task": "causal-lm"}}
    messages = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(wrong)]
    assert any("template" in m for m in messages)
