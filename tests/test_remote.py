"""The remote's deciding functions (runners/remote.py): what init refuses to commit, what a message may say,
and how a remote's failure is told; plus ``llmops init``'s refusals, which never reach a server."""

from __future__ import annotations

import errno

import pytest
from conftest import run_llmops

from runners.remote import (CREDENTIALS_HINT, committed_refusal, committed_secrets, configured_url, endpoint_problem, failure, redact, scheme,
                            url_problem)

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize(("url", "expected"), [
    ("/srv/dvc-remote", ""), ("relative/remote", ""), ("file:///srv/remote", ""), ("s3://bucket/prefix", "s3"),
    ("S3://Bucket", "s3"), ("gs://b/p", "gs"),
])
def test_scheme_tells_a_folder_from_a_cloud_remote(url, expected):
    assert scheme(url) == expected


@pytest.mark.parametrize("url", ["s3://AKIAEXAMPLE:%s@bucket/prefix" % SECRET.replace("/", "%2F"), "s3://key@bucket/p",
                                 "https://host/p?X-Amz-Signature=abc&X-Amz-Credential=AKIA", "s3:///prefix"])
def test_a_remote_url_with_a_credential_or_no_bucket_is_refused(url):
    problem = url_problem(url)
    assert problem is not None
    assert SECRET not in problem and SECRET.replace("/", "%2F") not in problem and "abc" not in problem


def test_a_plain_remote_url_is_accepted():
    assert url_problem("s3://bucket/some/prefix") is None
    assert url_problem("/a/folder") is None


@pytest.mark.parametrize(("endpoint", "url", "needle"), [
    ("http://127.0.0.1:8333", "/a/folder", "for an S3 remote"),
    ("ftp://host", "s3://b/p", "not http(s)"),
    ("http://user:pw@host:9000", "s3://b/p", "carries credentials"),
    ("https://host?token=x", "s3://b/p", "carries credentials"),
])
def test_an_endpoint_that_cannot_serve_the_remote_is_refused(endpoint, url, needle):
    problem = endpoint_problem(endpoint, url)
    assert problem is not None and needle in problem
    assert "pw" not in problem and "token=x" not in problem


def test_an_https_endpoint_of_an_s3_remote_is_accepted():
    assert endpoint_problem("https://s3.example.com:9000", "s3://b/p") is None


def test_redact_cuts_userinfo_signed_parameters_and_credential_values():
    environ = {"AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": "FQoGZXIvYXdzEJr//token", "AWS_ACCESS_KEY_ID": "short"}
    text = (f"failed at s3://AKIA:{SECRET}@b/p and https://h/o?X-Amz-Security-Token=FQoGZ&X-Amz-Signature=ab12 "
            f"key {SECRET} token FQoGZXIvYXdzEJr//token id short")
    out = redact(text, environ)
    assert SECRET not in out and "FQoGZ" not in out and "ab12" not in out
    assert "s3://***@b/p" in out and "X-Amz-Signature=***" in out
    assert "id short" in out, "a value too short to be a secret is not cut out of every word"


def test_committed_secrets_names_each_credential_option_and_a_url_with_a_password():
    config = {"core": {"remote": "llmops"}, "remote": {
        "llmops": {"url": "s3://b/p", "endpointurl": "http://h", "secret_access_key": SECRET},
        "other": {"url": "https://user:pw@host/store"}, "fine": {"url": "s3://b2", "profile": "ci"}}}
    assert committed_secrets(config) == ["remote.llmops.secret_access_key", "remote.other.url"]
    assert committed_secrets({"remote": {}}) == []
    assert committed_refusal(config)[0].startswith(".dvc/config holds a credential (remote.llmops.secret_access_key, ")
    assert SECRET not in " ".join(committed_refusal(config))


def test_a_committed_config_naming_an_aws_settings_file_is_refused():
    """A credential_process in a file the checkout writes would run its command: configpath and credentialpath are refused."""
    config = {"remote": {"llmops": {"url": "s3://b/p", "configpath": "aws-config", "credentialpath": "creds"}}}
    message, hint = committed_refusal(config)
    assert "remote.llmops.configpath, remote.llmops.credentialpath" in message and "credential_process" in message
    assert "AWS_CONFIG_FILE" in hint
    assert committed_refusal({"remote": {"llmops": {"url": "s3://b/p", "profile": "ci", "region": "eu-west-1"}}}) is None


def test_configured_url_reads_the_default_remote_with_config_local_over_config():
    config = "[core]\n    remote = llmops\n['remote \"llmops\"']\n    url = s3://b/p\n    endpointurl = http://h:1\n"
    assert configured_url([config]) == "s3://b/p"
    assert configured_url([config, "['remote \"llmops\"']\n    url = /local/folder\n"]) == "/local/folder"
    assert configured_url(["[core]\n    remote = gone\n"]) is None
    assert configured_url(["[core\nbroken"]) is None


class NoCredentialsError(Exception):  # botocore's class names, as the classifier reads them
    __module__ = "botocore.exceptions"


class EndpointConnectionError(Exception):
    __module__ = "botocore.exceptions"


class ClientError(Exception):
    __module__ = "botocore.exceptions"


def _caused(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(("exc", "needle", "hint"), [
    (NoCredentialsError("Unable to locate credentials"), "no credentials for the remote s3://b/p", "AWS_ACCESS_KEY_ID"),
    (EndpointConnectionError('Could not connect to the endpoint URL: "http://127.0.0.1:1/b"'), "cannot reach", "endpoint"),
    (_caused(PermissionError(errno.EACCES, "The request signature we calculated does not match"),
             ClientError("SignatureDoesNotMatch")), "refused the credentials", "may read and write s3://b/p"),
    (_caused(FileNotFoundError("The specified bucket does not exist"), ClientError("NoSuchBucket")),
     "does not exist", "create it"),
    (RuntimeError("URL 's3://b/p' is supported but requires these missing dependencies: ['s3']"), "plugin", "dvc-s3"),
])
def test_failure_tells_each_remote_problem_with_its_hint(exc, needle, hint):
    told = failure(_caused(OSError("the remote did not take x"), exc), "s3://b/p", "http://127.0.0.1:1")
    assert told is not None
    message, advice = told
    assert needle in message and hint in advice
    assert "(endpoint http://127.0.0.1:1)" in message


def test_a_local_permission_error_is_not_blamed_on_the_remote_credentials():
    assert failure(PermissionError(errno.EACCES, "Permission denied", "/srv/remote/files"), "/srv/remote") is None
    assert failure(ValueError("something else"), "s3://b/p") is None


def test_failure_redacts_the_error_text(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    exc = _caused(PermissionError(errno.EACCES, f"denied for {SECRET}"), ClientError("AccessDenied"))
    message, hint = failure(exc, "s3://b/p")
    assert SECRET not in message and "***" in message
    assert hint.endswith(CREDENTIALS_HINT)


@pytest.mark.parametrize(("args", "needle"), [
    (["--remote", f"s3://AKIAEXAMPLE:{SECRET.replace('/', '%2F')}@bucket/p"], "carries credentials"),
    (["--remote", "s3://bucket/p", "--endpoint-url", "http://admin:hunter2hunter2@127.0.0.1:9000"], "carries credentials"),
    (["--endpoint-url", "http://127.0.0.1:9000"], "needs --remote s3://"),
])
def test_init_refuses_to_commit_a_credential(tmp_path, args, needle):
    done = run_llmops("init", str(tmp_path), *args, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert needle in done.stderr and "hint:" in done.stderr and "Traceback" not in done.stderr
    assert "hunter2" not in done.stderr and SECRET.replace("/", "%2F") not in done.stderr
    assert not (tmp_path / ".dvc").exists(), "nothing is initialized"


def test_init_writes_the_s3_url_and_endpoint_to_the_committed_config(tmp_path):
    done = run_llmops("init", str(tmp_path), "--remote", "s3://bucket/team/llmops", "--endpoint-url",
                      "http://127.0.0.1:9000", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    config = (tmp_path / ".dvc" / "config").read_text()
    assert "url = s3://bucket/team/llmops" in config and "endpointurl = http://127.0.0.1:9000" in config
    assert not (tmp_path / ".dvc" / "config.local").exists()
    assert "DVC remote llmops -> s3://bucket/team/llmops at http://127.0.0.1:9000" in done.stdout


class _Repo:  # what RemoteAddress.of reads of a dvc Repo: its merged config
    def __init__(self, config: dict) -> None:
        self.config = config


def test_a_remote_address_carries_no_credential_even_from_config_local():
    from runners.remote_odb import RemoteAddress

    merged = {"core": {"remote": "llmops"}, "remote": {"llmops": {
        "url": "s3://b/p", "endpointurl": "http://h:1", "region": "eu-west-1", "secret_access_key": SECRET,
        "access_key_id": "AKIAEXAMPLE", "session_token": "tok"}}}
    address = RemoteAddress.of(_Repo(merged))
    assert address.to_dict() == {"url": "s3://b/p", "options": {"endpointurl": "http://h:1", "region": "eu-west-1"}}
    sent = {"url": "s3://b/p", "options": {"endpointurl": "http://h:1", "secret_access_key": SECRET}}
    assert RemoteAddress.from_dict(sent).to_dict()["options"] == {"endpointurl": "http://h:1"}
