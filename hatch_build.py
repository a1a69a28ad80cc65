"""Hatch build hook: a wheel or sdist without the built dashboard would install a Herald whose
/ answers 404, so building one without it stops with what to run first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class DashboardPresent(BuildHookInterface):  # type: ignore[misc]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return  # `pip install -e .` serves herald/static from the tree once it is built
        if not (Path(self.root) / "herald" / "static" / "index.html").exists():
            raise RuntimeError(
                "herald/static/index.html is missing: build the dashboard first "
                "(make dashboard, which needs Node.js), then run python -m build again"
            )
