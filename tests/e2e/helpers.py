"""Helpers for the dashboard's browser tests."""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx


def field(scope: Any, label: str) -> Any:
    """The input labelled exactly `label` (a required input's label ends with " *")."""
    return scope.get_by_label(re.compile(rf"^{re.escape(label)}( \*)?$"))


def sign_in(page: Any, email: str, password: str) -> None:
    """Sign in through the form, as a person would, and wait for the shell."""
    page.goto("/sign-in")
    field(page, "Email").fill(email)
    field(page, "Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Areas").wait_for()


def unique_email(label: str = "person") -> str:
    return f"{label}-{secrets.token_hex(5)}@example.com"


def api(base_url: str, key: str) -> httpx.Client:
    """An API client that authenticates with a key as `Authorization: Bearer`."""
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def find_profile(base_url: str, secret_key: str, email: str) -> dict[str, Any]:
    with api(base_url, secret_key) as client:
        response = client.get("/api/profiles", params={"email": email})
    response.raise_for_status()
    found = response.json()["data"]
    assert len(found) == 1, found
    return found[0]


def timeline_names(base_url: str, secret_key: str, profile_id: str) -> list[str]:
    with api(base_url, secret_key) as client:
        response = client.get(f"/api/profiles/{profile_id}/timeline", params={"limit": 500})
    response.raise_for_status()
    return [entry["name"] for entry in response.json()["data"]]
