"""What imports accept and what a finished import job reports in its `result`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ColumnName = Annotated[str, StringConstraints(max_length=255)]
FieldName = Annotated[str, StringConstraints(max_length=300)]
# CSV column (as in the header) -> Herald field: `email`, `location` fields, `properties.<name>`,
# `ignore`, ...
Mapping = dict[ColumnName, FieldName]


class ProfileImportCounts(BaseModel):
    """The `result` of an `import.profiles` job (also its running counts in the checkpoint)."""

    rows: int = Field(default=0, description="Data rows read (blank rows are skipped).")
    created: int = Field(default=0, description="New profiles.")
    updated: int = Field(default=0, description="Existing profiles whose data changed.")
    unchanged: int = Field(default=0, description="Existing profiles the row did not change.")
    errors: int = Field(default=0, description="Rows not imported; see the errors CSV.")


class EventImportCounts(BaseModel):
    """The `result` of an `import.events` job (also its running counts in the checkpoint)."""

    rows: int = Field(default=0, description="Lines read (blank lines are skipped).")
    stored: int = Field(default=0, description="Events stored.")
    duplicates: int = Field(default=0, description="Events whose unique_id was already stored.")
    errors: int = Field(default=0, description="Lines not imported; see the errors CSV.")


ImportType = Literal["profiles", "events"]
ImportStatus = Literal["pending", "running", "succeeded", "failed", "cancelled"]
ImportCounts = ProfileImportCounts | EventImportCounts


class Import(BaseModel):
    """An import job, with what kind of file it reads and the file's name."""

    model_config = ConfigDict(title="Import")

    id: uuid.UUID = Field(description="The job's id: follow it at `GET /api/jobs/{id}` too.")
    type: ImportType
    filename: str | None = Field(description="The uploaded file's name, as the browser sent it.")
    status: ImportStatus
    progress_done: int = Field(description="Rows (or lines) read so far.")
    progress_total: int | None = Field(
        description="Rows (or lines) in the file; null until the first pass has counted them."
    )
    error: str | None = Field(
        description="Why the job failed, or why its last attempt raised (it is retried)."
    )
    result: ImportCounts | None = Field(
        description="The final counts, once the import succeeded "
        "(ProfileImportCounts or EventImportCounts, by `type`)."
    )
    counts: ImportCounts | None = Field(
        description="What the import did so far: the final counts once it succeeded, else the "
        "counts of its committed batches (what a cancelled import did import); null before the "
        "first batch."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ImportList(BaseModel):
    data: list[Import]
    next_cursor: str | None


class ImportRowError(BaseModel):
    item: int = Field(description="The CSV row number (the header is row 1), or the JSON line.")
    field: str = Field(description="The column or field at fault (empty for the whole row).")
    reason: str


class ImportRowErrors(BaseModel):
    data: list[ImportRowError] = Field(description="The first problems, in file order.")
    stored: int = Field(
        description="How many problems are stored (the first 100,000); the import's `errors` "
        "count says how many rows failed in all."
    )
