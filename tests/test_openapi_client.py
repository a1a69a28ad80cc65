"""The dashboard's API client is generated from web/openapi.json: it must match the API."""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMITTED = REPO_ROOT / "web" / "openapi.json"
HOW_TO_FIX = (
    "web/openapi.json (and the dashboard's client generated from it) is out of date with the "
    "API. Regenerate both with `make api-client`, check that the dashboard still type-checks "
    "(`cd web && npm run typecheck`), and commit the result."
)


def live_schema_text() -> str:
    """What `herald openapi` prints: the running app's /openapi.json as stable JSON."""
    result = subprocess.run(
        [sys.executable, "-m", "herald", "openapi"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_generated_client_matches_the_api() -> None:
    live = live_schema_text()
    committed = COMMITTED.read_text(encoding="utf-8") if COMMITTED.exists() else ""
    if committed != live:
        diff = "".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    live.splitlines(keepends=True),
                    "web/openapi.json",
                    "herald openapi",
                    n=2,
                )
            )[:80]
        )
        raise AssertionError(f"{HOW_TO_FIX}\n\n{diff}")


def test_herald_openapi_is_the_served_schema(client) -> None:
    served = client.get("/openapi.json").json()
    assert json.loads(live_schema_text()) == served


def test_herald_openapi_writes_a_file(tmp_path: Path) -> None:
    target = tmp_path / "openapi.json"
    result = subprocess.run(
        [sys.executable, "-m", "herald", "openapi", "--output", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    schema = json.loads(target.read_text(encoding="utf-8"))
    assert schema["info"]["title"] == "Herald"
    operation_ids = {
        operation["operationId"] for path in schema["paths"].values() for operation in path.values()
    }
    assert {"login", "get_me", "list_profiles", "list_metrics", "create_api_key"} <= operation_ids
    # Nothing else is left behind: the command needs no database or data directory.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["openapi.json"]


def _refs(value: object) -> set[str]:
    if isinstance(value, dict):
        found = {value["$ref"]} if isinstance(value.get("$ref"), str) else set()
        return found.union(*(_refs(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(item) for item in value))
    return set()


def test_every_reference_in_the_schema_names_a_component(client) -> None:
    # Bodies read by their handlers (herald.routing) are documented by reference; their models
    # are added to the components by hand, which FastAPI would otherwise do.
    served = client.get("/openapi.json").json()
    components = served["components"]["schemas"]
    missing = {ref for ref in _refs(served) if ref.split("/")[-1] not in components}
    assert missing == set()
    body = served["paths"]["/api/track"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TrackEvent"
    }
    assert "ProfileReference" in components
    assert "default" not in components["TrackEvent"]["properties"]["unique_id"]
