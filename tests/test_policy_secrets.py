"""Secrets: detect-secrets finds each kind, and the pre-filter never hides one from it.

Every sample is assembled at run time from pieces, so this file itself holds no secret
for a scanner to flag.
"""

from __future__ import annotations

import pytest

from compiler.policy.secrets import detect, field_name, is_candidate, suspects

A = "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY2zC4eF6gH8iJ0kL2mN4oP6qR8sT0uV2wX4yZ6"
H = "3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a5c7e"

SAMPLES = {  # detector: (key, value, the type it reports)
    "Artifactory": ("token", "AKC" + "p8kQ2vX7sWzR4tY6uN1m", "Artifactory Credentials"),
    "AWS": ("id", "AKIA" + "QZ7XK2PL9MN4RT6V", "AWS Access Key"),
    "Azure": ("conn", "AccountKey=" + (A + A)[:86] + "==", "Azure Storage Account access key"),
    "BasicAuth": ("url", "https://admin:" + "s3cr3tPw9@db.example.com/x", "Basic Auth Credentials"),
    "Cloudant": ("url", "https://user:" + H[:64] + "@acct.cloudant.com", "Cloudant Credentials"),
    "Discord": ("bot", "M" + A[:23] + "." + A[23:29] + "." + A[29:56], "Discord Bot Token"),
    "GitHub": ("gh", "ghp_" + A[:36], "GitHub Token"),
    "GitLab": ("gl", "glpat-" + A[:20], "GitLab Token"),
    "HuggingFace": ("hub", "hf_" + A[:34], "Hugging Face Token"),
    "IbmCloudIam": ("ibm_cloud_iam_api_key", A[:44], "IBM Cloud IAM Key"),
    "IbmCosHmac": ("secret_access_key", H[:48], "IBM COS HMAC Credentials"),
    "Jwt": ("jwt", "eyJ" + "hbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0." + A[:43], "JSON Web Token"),
    "Keyword": ("password", "hunter2" + "Correct9", "Secret Keyword"),
    "Mailchimp": ("mc", H[:32].replace("f", "z") + "-us12", "Mailchimp Access Key"),
    "Npm": ("npmrc", "//registry.npmjs.org/:_authToken=" + "npm_" + A[:36], "NPM tokens"),
    "OpenAI": ("openai", "sk-" + A[:20] + "T3Blbk" + "FJ" + A[20:40], "OpenAI Token"),
    "PrivateKey": ("key", "-----BEGIN OPENSSH " + "PRIVATE KEY-----", "Private Key"),
    "Pypi": ("pypi", "pypi-" + "AgEIcHlwaS5vcmc" + A + A[:10], "PyPI Token"),
    "SendGrid": ("sg", "SG." + A[:22] + "." + A[22:65], "SendGrid API Key"),
    "Slack": ("slack", "xoxb-" + "123456789012-1234567890123-" + A[:24].lower(), "Slack Token"),
    "Softlayer": ("url", "https://api.softlayer.com/soap/v3/" + H[:64], "SoftLayer Credentials"),
    "SquareOAuth": ("sq", "sq0csp-" + A[:43], "Square OAuth Secret"),
    "Stripe": ("stripe", "sk_" + "live_" + A[:24], "Stripe Access Key"),
    "Telegram": ("tg", "123456789:" + A[:35], "Telegram Bot Token"),
    "Twilio": ("tw", "AC" + H[:32], "Twilio API Key"),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_detector_finds_its_secret_and_the_prefilter_lets_it_through(name):
    key, value, kind = SAMPLES[name]
    assert kind in detect(f"{key}: {value}")
    assert is_candidate(key, value)
    if detect(f"note: see {value} here"):  # flagged inside free text too, whatever the key: the prefilter agrees
        assert is_candidate("note", f"see {value} here")


def test_the_prefilter_passes_over_what_no_detector_flags():
    ordinary = ["support-tickets-00000-classifier-prod", "Classify the ticket as one of: billing, bug, other.",
                "data/support/support-tickets-00000.jsonl", "7ae557604adf67be50417f59c2c2f167def9a775",
                "sequence-classification", "Qwen/Qwen2.5-0.5B-Instruct"]
    assert suspects(ordinary) == set()
    assert not any(is_candidate("description", value) for value in ordinary)


def test_placeholders_and_references_are_not_secrets():
    for line in ("password: ${DB_PASSWORD}", "api_key: $API_KEY", "password: <your password here>",
                 "token_id: " + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"):
        assert detect(line) == (), line


def test_field_names_read_like_the_yaml():
    assert field_name(("spec", "env_vars", "HF_TOKEN")) == "spec.env_vars.HF_TOKEN"
    assert field_name(("spec", "metrics", 2, "grader")) == "spec.metrics[2].grader"


def test_a_hash_is_passed_over_unless_a_mark_or_a_keyword_goes_with_it():
    assert not is_candidate("revision", H[:40]) and not is_candidate("md5", H[:32])
    mailchimp = H[:32] + "-us12"  # all hex, but for its data-center suffix
    assert is_candidate("mc", mailchimp) and "Mailchimp Access Key" in detect(f"mc: {mailchimp}")
    assert is_candidate("cl_pw", H[:64]) and detect(f"cl_pw: {H[:64]}")  # keys name secrets too
