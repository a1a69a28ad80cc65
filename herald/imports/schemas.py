"""What imports accept and what a finished import job reports in its `result`."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

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
