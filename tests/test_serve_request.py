"""The request rules of a Serve endpoint (pure): the shapes accepted, the limits, the rows a prompt needs."""

from __future__ import annotations

import pytest

from runners.serve_request import (MAX_BATCH, MAX_TEXT_CHARS, BadRequest, PromptInput, input_row, prompt_inputs,
                                   request_rows, sample_row)

TICKET_PROMPT = {"template": "Subject: {{ subject }}\nBody: {{ message }}\nLabels: {{ labels }}",
                 "variables": {"subject": {"from": "Dataset/tickets"},
                               "message": {"from": "Dataset/tickets", "column": "body"},
                               "labels": {"value": ["a", "b"]}}}


def test_the_inputs_of_a_prompt_are_its_dataset_columns_not_text():
    inputs = prompt_inputs(TICKET_PROMPT)
    assert inputs == (PromptInput("message", "body"), PromptInput("subject", "subject"))
    assert sample_row(inputs) == {"body": "health check", "subject": "health check"}
    assert prompt_inputs(None) == (PromptInput("text", "text"),)


def test_a_row_is_read_by_column_or_by_variable_name():
    inputs = prompt_inputs(TICKET_PROMPT)
    assert input_row({"subject": "s", "body": "b"}, inputs) == {"subject": "s", "body": "b"}
    assert input_row({"subject": "s", "message": "b"}, inputs) == {"subject": "s", "body": "b"}
    assert input_row({"subject": 3, "body": 1.5}, inputs) == {"subject": "3", "body": "1.5"}
    with pytest.raises(BadRequest, match=r"lacks body \(or message\)") as missing:
        input_row({"subject": "s", "text": "x"}, inputs)
    assert missing.value.status == 400


def test_a_string_is_the_one_input_of_a_prompt_that_reads_one():
    one = prompt_inputs({"variables": {"ticket": {"from": "Dataset/t"}}})
    assert input_row("hello", one) == {"ticket": "hello"}
    with pytest.raises(BadRequest, match="reads 2 inputs"):
        input_row("hello", prompt_inputs(TICKET_PROMPT))


@pytest.mark.parametrize("body", [[1, 2], 7, None, True, [["nested"]]])
def test_bodies_of_the_wrong_shape_are_400(body):
    with pytest.raises(BadRequest) as refused:
        rows, _ = request_rows(body)
        for row in rows:
            input_row(row, prompt_inputs(None))
    assert refused.value.status == 400


@pytest.mark.parametrize("value", [None, True, ["a"], {"a": 1}])
def test_values_must_be_strings_or_numbers(value):
    with pytest.raises(BadRequest, match="must be a string or a number"):
        input_row({"text": value}, prompt_inputs(None))


def test_limits_are_413():
    with pytest.raises(BadRequest) as batch:
        request_rows({"inputs": [{"text": "x"}] * (MAX_BATCH + 1)})
    assert batch.value.status == 413
    with pytest.raises(BadRequest) as long:
        input_row({"text": "x" * (MAX_TEXT_CHARS + 1)}, prompt_inputs(None))
    assert long.value.status == 413
    for empty in ({"inputs": []}, {"inputs": "x"}):
        with pytest.raises(BadRequest, match="non-empty list"):
            request_rows(empty)


def test_a_batch_and_a_single_row():
    assert request_rows({"inputs": ["a", {"text": "b"}]}) == (["a", {"text": "b"}], True)
    assert request_rows({"text": "a"}) == ([{"text": "a"}], False)
    assert request_rows("a") == (["a"], False)
