"""HTTP handlers for profile and event imports."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["imports"])
