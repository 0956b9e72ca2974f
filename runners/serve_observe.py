"""Look at what Ray Serve runs, through the dashboard's REST API (urllib only: plan must not import Ray)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from compiler.drift import Observed
from runners.cluster import authorized


def observe(root: Path, targets: dict[str, dict[str, Any]], timeout: float = 3.0) -> dict[str, Observed]:
    """What each deploy node's application looks like now, one request per dashboard."""
    token = root / ".llmops" / "ray" / "auth_token"
    token_path = str(token) if token.exists() else os.environ.get("RAY_AUTH_TOKEN_PATH")
    answers: dict[str, dict[str, Any] | str] = {}
    observed: dict[str, Observed] = {}
    for nid, serve in targets.items():
        url = serve.get("dashboard_url")
        if not url:
            continue
        if url not in answers:
            try:
                request = authorized(f"{url}/api/serve/applications/", token_path)
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    answers[url] = json.loads(response.read())
            except (urllib.error.URLError, OSError, ValueError) as exc:
                answers[url] = f"the Ray dashboard at {url} did not answer ({getattr(exc, 'reason', exc)})"
        answer = answers[url]
        if isinstance(answer, str):
            observed[nid] = Observed(False, error=answer)
            continue
        app = (answer.get("applications") or {}).get(serve.get("app"))
        if app is None:
            observed[nid] = Observed(True, exists=False)
        else:
            versions = tuple(sorted(name for name in app.get("deployments", {}) if name.startswith("v-")))
            observed[nid] = Observed(True, True, str(app.get("status", "")), versions)
    return observed
