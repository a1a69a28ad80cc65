"""Job handlers for imports (registered when a worker imports this module)."""

from __future__ import annotations
