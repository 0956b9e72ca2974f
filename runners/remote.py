"""The project's DVC remote: where its URL and endpoint are written, where its credentials come from, how it fails.

The default remote is a local folder (runners/dvc_store.py ``default_remote``). An S3 remote is
``s3://bucket/prefix``, through dvc-s3; an S3-compatible server (SeaweedFS, MinIO, Ceph, R2...)
is named by its endpoint URL, written to ``.dvc/config`` as DVC's ``endpointurl``: a URL and
an endpoint are settings of the project, committed with it, never a secret.

Credentials come from the environment of each process that talks to the remote (apply, pull,
every Ray node), as botocore reads them: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` /
``AWS_SESSION_TOKEN``, or ``AWS_PROFILE`` and the files it names, or an instance role. llmops
never writes one: not to ``.dvc/config`` (``init`` refuses a URL that carries one, and a
committed config that holds one is refused before anything talks to the remote), the lock,
the apply log, a plan, an artifact or a log line. Every message about the remote goes through
``redact`` first, which cuts out a URL's user info, a signed URL's credential parameters, and
the value of any credential variable set in the environment.

Deciding functions here are pure (strings and dicts in, strings out); DVC and botocore are
never imported: a failure is classified by its exception's class name and text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

# The remote options of DVC's config schema (dvc/config_schema.py) that hold a credential, any remote type.
SECRET_OPTIONS = frozenset({
    "access_key_id", "secret_access_key", "session_token",                     # s3
    "account_key", "sas_token", "connection_string", "client_secret",          # azure
    "password", "passphrase", "token", "custom_auth_header",                    # ssh, http, webdav
    "gdrive_client_secret", "oss_key_secret", "oss_key_id",                     # gdrive, oss
})
# The remote options that name a file of AWS settings: refused in the committed config (``committed_refusal``).
SETTINGS_FILES = frozenset({"configpath", "credentialpath"})
# The environment variables whose values are credentials: never in a message (values shorter than 8 are no secret).
CREDENTIAL_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ACCESS_KEY_ID")
_MIN_SECRET = 8
CLOUD_SCHEMES = frozenset({"s3"})  # the remotes llmops installs a plugin for (dvc-s3, in the run extra)
MASK = "***"

_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<info>[^/\s@'\":]+(?::[^\s@'\"]*)?)@")
_SIGNED = re.compile(r"(?i)\b(?P<key>x-amz-(?:credential|signature|security-token)|awsaccesskeyid|signature"
                     r"|x-goog-(?:credential|signature)|sig|token)=(?P<value>[^&\s'\"]+)")

CREDENTIALS_HINT = ("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary ones), "
                    "or AWS_PROFILE, in the environment of apply, pull and every Ray node; llmops never reads them "
                    "from the project (docs/remotes.md)")


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` without credentials: a URL's user info, a signed URL's credential parameters, any credential variable's value."""
    environ = os.environ if environ is None else environ
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    text = _SIGNED.sub(lambda m: f"{m['key']}={MASK}", text)
    for name in CREDENTIAL_ENV:
        value = environ.get(name, "")
        if len(value) >= _MIN_SECRET:
            text = text.replace(value, MASK)
    return text


def scheme(url: str) -> str:
    """The remote's scheme (``s3``), or ``""`` for a local folder (a path, or ``file://``)."""
    head = urlsplit(url).scheme.lower() if "://" in url else ""
    return "" if head in ("", "file", "local") else head


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a remote's URL in a committed config (it carries a credential), or None."""
    if "://" not in url:
        return None
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        return f"the remote URL {redact(url)} carries credentials in its user part: they would be committed in .dvc/config"
    if _SIGNED.search(parts.query or ""):
        return f"the remote URL {redact(url)} carries a signature or token in its query: it would be committed in .dvc/config"
    if scheme(url) == "s3" and not parts.netloc:
        return f"the remote URL {url} names no bucket: write it s3://BUCKET/PREFIX"
    return None


def endpoint_problem(endpoint: str, url: str) -> str | None:
    """Why ``endpoint`` cannot be the endpoint URL of the remote at ``url``, or None."""
    if scheme(url) not in CLOUD_SCHEMES:
        return f"--endpoint-url is for an S3 remote (s3://BUCKET/PREFIX), not {redact(url)}"
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"the endpoint URL {redact(endpoint)} is not http(s)://HOST[:PORT]"
    if parts.username is not None or parts.password is not None or parts.query:
        return f"the endpoint URL {redact(endpoint)} carries credentials or a query: give it as http(s)://HOST[:PORT]"
    return None


def committed_secrets(repo_config: Mapping[str, object]) -> list[str]:
    """The credential options set in the project's committed config (``.dvc/config``), as ``remote.NAME.OPTION``."""
    return [f"remote.{name}.{option}" for name, option in _committed(repo_config) if option not in SETTINGS_FILES]


def committed_settings_files(repo_config: Mapping[str, object]) -> list[str]:
    """The options of the committed config that name a file of AWS settings, as ``remote.NAME.OPTION``."""
    return [f"remote.{name}.{option}" for name, option in _committed(repo_config) if option in SETTINGS_FILES]


def _committed(repo_config: Mapping[str, object]) -> list[tuple[str, str]]:
    remotes = repo_config.get("remote") or {}
    found = []
    for name, options in (remotes.items() if isinstance(remotes, Mapping) else ()):
        if not isinstance(options, Mapping):
            continue
        found += [(name, option) for option in options if option in SECRET_OPTIONS or option in SETTINGS_FILES]
        url = options.get("url")
        if isinstance(url, str) and "://" in url and (urlsplit(url).password is not None or _SIGNED.search(urlsplit(url).query)):
            found.append((name, "url"))
    return found


def committed_refusal(repo_config: Mapping[str, object]) -> tuple[str, str] | None:
    """Why apply and pull refuse the committed config (``.dvc/config``), with a hint; None when nothing in it is refused.

    A credential there is readable by anyone who can read the repository. A file of AWS settings
    that it names (``configpath``, ``credentialpath``) is the checkout's to write: a
    ``credential_process`` in it would run a command, and a profile in it would choose keys.
    """
    secrets, files = committed_secrets(repo_config), committed_settings_files(repo_config)
    if secrets:
        first = secrets[0].split(".")
        return (f".dvc/config holds a credential ({', '.join(secrets)}): anyone who can read the repository can read it",
                f"remove it (dvc remote modify {first[1]} --unset {first[2]}, or rewrite the URL without it), rotate it, "
                f"and {CREDENTIALS_HINT}")
    if files:
        first = files[0].split(".")
        return (f".dvc/config names a file of AWS settings ({', '.join(files)}): a file the repository can change, whose "
                "credential_process would run a command", f"remove it (dvc remote modify {first[1]} --unset {first[2]}); "
                "name such files in the environment instead (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE)")
    return None


_NO_CREDENTIALS = ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError", "NoAuthTokenError")
_UNREACHABLE = ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError", "ReadTimeoutError",
                "ClientConnectorError", "ServerDisconnectedError", "ProxyConnectionError", "SSLError")
_REFUSED_CODES = ("SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "ExpiredToken", "InvalidToken",
                  "Forbidden", "InvalidClientTokenId", "TokenRefreshRequired", "signature we calculated")


_REMOTE_LIBS = frozenset({"botocore", "aiobotocore", "s3fs", "aiohttp", "dvc_s3", "urllib3"})


def causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it, nearest first (``__cause__``, else ``__context__``; at most 20, no cycle)."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen and len(seen) < 20:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return seen


def failure(exc: BaseException, url: str, endpoint: str | None = None) -> tuple[str, str] | None:
    """(what went wrong, what to do) when ``exc`` is the remote's doing: credentials, reachability, the bucket; else None.

    ``url`` and ``endpoint`` name the remote in the message; both are redacted, as is the error's own text.
    """
    where = redact(url) + (f" (endpoint {redact(endpoint)})" if endpoint else "")
    chain = causes(exc)
    remote_side = any(type(link).__module__.split(".")[0] in _REMOTE_LIBS for link in chain)  # not the local disk's
    for link in chain:
        name, text = type(link).__name__, str(link)
        if name == "RemoteMissingDepsError" or "missing dependencies" in text:
            return (f"DVC cannot talk to the remote {where}: its plugin is not installed",
                    "pip install 'llmops-spec[run]' (it brings dvc-s3), or the DVC plugin of that remote")
        if name in _NO_CREDENTIALS or "Unable to locate credentials" in text:
            return f"no credentials for the remote {where}", CREDENTIALS_HINT
        if name == "ProfileNotFound" or "config profile" in text:
            return (f"the AWS profile for the remote {where} is not defined: {redact(text)}",
                    "set AWS_PROFILE to a profile of your AWS config, or unset it and give the keys in the environment")
        if name in _UNREACHABLE or (remote_side and isinstance(link, ConnectionError)):
            return (f"cannot reach the remote {where}: {redact(text)}",
                    "check that the server is up and reachable from this machine and every Ray node, and the endpoint "
                    "URL (llmops init --endpoint-url, or AWS_ENDPOINT_URL_S3)")
        if remote_side and (isinstance(link, PermissionError) or any(code in text for code in _REFUSED_CODES)):
            return (f"the remote {where} refused the credentials: {redact(text)}",
                    f"check that the keys in the environment are right and may read and write {redact(url)}; "
                    f"{CREDENTIALS_HINT}")
        if remote_side and ("NoSuchBucket" in text or "bucket does not exist" in text):
            return (f"the bucket of the remote {where} does not exist",
                    "create it, or point the project at another one: llmops init --remote s3://BUCKET/PREFIX")
    return None


def configured_url(texts: list[str]) -> str | None:
    """The default remote's URL as DVC's project configs say it (``.dvc/config``, then ``config.local`` over it); None
    when they do not say (no remote, a remote set in the user's or system's config, a file that does not read).

    Read as the pull request's policy check reads them (compiler/dvc_config.py), so both judge one text alike."""
    from compiler.dvc_config import read_remote_config

    default: str | None = None
    remotes: dict[str, dict[str, str]] = {}
    for text in texts:
        config = read_remote_config(text)
        if config is None:
            return None
        default = (config.core or {}).get("remote", default)
        for name, options in config.remotes.items():
            remotes.setdefault(name, {}).update(options)
    url = remotes.get(default or "", {}).get("url")
    return url if isinstance(url, str) else None
