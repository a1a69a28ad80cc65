"""Worker side of the process registry: the pump that takes over a dead process's claims."""

from __future__ import annotations

from herald.db import Database
from herald.system import processes
from herald.worker import register_pump


@register_pump("processes.recovery")
def recover_abandoned_claims(database: Database) -> int:
    return processes.recover(database)
