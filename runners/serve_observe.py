"""Look at what Ray Serve runs, through the dashboard's REST API (urllib only: plan must not import Ray).

The dashboard asked is one llmops knows (runners/cluster.py ``known_dashboard``): the
project's local cluster, proven by its head's identity, or the one ``RAY_DASHBOARD_ADDRESS``
names. Never a URL from the lock: a lock edited in a pull request would otherwise receive
the cluster's token.
"""

from __future__ import annotations

import json
import urllib.error
from typing import Any

from compiler.drift import Observed
from runners.cluster import Dashboard

MAX_ANSWER_BYTES = 16 * 1024 * 1024


def observe(dashboard: Dashboard | str, targets: dict[str, dict[str, Any]], timeout: float = 3.0) -> dict[str, Observed]:
    """What each deploy node's application looks like now (one request); all unreachable when no dashboard is known."""
    if not targets:
        return {}
    if isinstance(dashboard, str):
        return {nid: Observed(False, error=dashboard) for nid in targets}
    try:
        with dashboard.open("/api/serve/applications/", timeout) as response:
            answer = json.loads(response.read(MAX_ANSWER_BYTES))
    except (urllib.error.URLError, OSError, ValueError, RecursionError) as exc:
        why = f"HTTP {exc.code} {exc.reason}" if isinstance(exc, urllib.error.HTTPError) else getattr(exc, "reason", exc)
        error = f"the Ray dashboard at {dashboard.url} did not answer ({why})"
        return {nid: Observed(False, error=error) for nid in targets}
    applications = answer.get("applications") if isinstance(answer, dict) else None
    applications = applications if isinstance(applications, dict) else {}
    observed: dict[str, Observed] = {}
    for nid, serve in targets.items():
        app = applications.get(serve.get("app"))
        if not isinstance(app, dict):
            observed[nid] = Observed(True, exists=False)
        else:
            deployments = app.get("deployments") if isinstance(app.get("deployments"), dict) else {}
            versions = tuple(sorted(name for name in deployments if str(name).startswith("v-")))
            observed[nid] = Observed(True, True, str(app.get("status", "")), versions)
    return observed
