"""The request rules of a Serve endpoint (pure): the shapes accepted, the limits, the rows a prompt needs."""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.error

import pytest

from runners.serve_request import (MAX_BATCH, MAX_TEXT_CHARS, BadRequest, PromptInput, input_row, prompt_inputs,
                                   request_rows, sample_row)
from runners.steps.deploy import proxy_unsettled, request

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


class _Proxy(http.server.BaseHTTPRequestHandler):
    """Answers as a Serve proxy that has just restarted: its own 404s (and a 503), then the app's answer."""

    answers: list[tuple[int, bytes]] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        status, body = self.answers.pop(0) if self.answers else (200, b'{"prediction": "bug"}')
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def proxy():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/classify"
    server.shutdown()
    server.server_close()


NOT_ROUTED = (404, b"Path '/classify' not found. Ping http://.../-/routes for available routes.")


def test_what_a_proxy_says_on_its_own_is_told_from_what_the_app_says():
    assert proxy_unsettled(*NOT_ROUTED) and proxy_unsettled(503, b"")
    assert not proxy_unsettled(404, b'{"error": "Path \'/x\' not found."}'), "an app's own JSON error"
    assert not proxy_unsettled(400, b"Path '/classify' not found.") and not proxy_unsettled(500, b"")


def test_a_request_waits_out_a_proxy_that_does_not_know_its_route_yet(proxy):
    _Proxy.answers = [NOT_ROUTED, (503, b""), NOT_ROUTED]
    assert request(proxy, {"text": "x"}, settle=10) == {"prediction": "bug"}
    _Proxy.answers = [NOT_ROUTED]
    with pytest.raises(urllib.error.HTTPError) as unsettled:
        request(proxy, {"text": "x"})  # no settle: the first answer is the answer
    assert unsettled.value.code == 404 and unsettled.value.read().startswith(b"Path '/classify'")


def test_an_apps_own_error_is_not_asked_again(proxy):
    _Proxy.answers = [(404, b'{"error": "no such label"}'), (200, b"{}")]
    started = time.monotonic()
    with pytest.raises(urllib.error.HTTPError) as refused:
        request(proxy, {"text": "x"}, settle=10)
    assert time.monotonic() - started < 5 and json.loads(refused.value.read()) == {"error": "no such label"}
