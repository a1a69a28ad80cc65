"""Mapping the columns of a profile CSV to profile fields: a mapping given with the import, or one
found from the column names."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import TypeAdapter, ValidationError

from herald.errors import FieldError, InvalidInput, validation_fields
from herald.imports.headers import field_for_header
from herald.imports.schemas import Mapping
from herald.models.profile import DESCRIPTIVE_FIELDS, IDENTIFIERS, LOCATION_FIELDS
from herald.profiles.limits import MAX_KEY_LENGTH, MAX_PROPERTIES
from herald.profiles.service import RequestEvidence

# A column of consent: subscribed or unsubscribed (also yes/no, true/false, 1/0), recorded in the
# profile's consent history with the method "import".
CONSENT_FIELDS = {"email_consent": "email", "sms_consent": "sms"}
CONSENT_VALUES = {
    **dict.fromkeys(("subscribed", "yes", "y", "true", "1"), "subscribed"),
    **dict.fromkeys(("unsubscribed", "no", "n", "false", "0"), "unsubscribed"),
}
BUILTIN_FIELDS = (*IDENTIFIERS, *DESCRIPTIVE_FIELDS, *CONSENT_FIELDS)
IGNORE = "ignore"
PROPERTIES = "properties"  # a JSON object of custom properties, as the export writes them
PROPERTY_PREFIX = "properties."
# Columns of Herald's own export that describe the stored row rather than the person.
EXPORT_ONLY_COLUMNS = ("id", "created_at", "updated_at")
DELIMITERS = (",", ";", "\t")
FIELD_HELP = (
    "use email, phone, external_id, first_name, last_name, timezone, "
    + ", ".join(LOCATION_FIELDS)
    + ", email_consent, sms_consent, properties.<name>, properties or ignore"
)

IMPORT_EVIDENCE = RequestEvidence(source="import", default_method="import")

_mapping_adapter: TypeAdapter[Mapping] = TypeAdapter(Mapping)


def parse_mapping(raw: str | None) -> Mapping | None:
    """The `mapping` form field: a JSON object of column name to field, or nothing."""
    if raw is None or not raw.strip():
        return None
    try:
        return _mapping_adapter.validate_json(raw)
    except ValidationError as exc:
        reason = "must be a JSON object of CSV column name to Herald field name"
        details = "; ".join(f"{f.field}: {f.reason}" for f in validation_fields(exc.errors())[:3])
        raise InvalidInput.for_field("mapping", f"{reason} ({details})") from exc


def _simple_name(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _field_named(target: str) -> str | None:
    """The canonical field a mapping value names, or None when it names none."""
    target = target.strip()
    if target.lower().startswith(PROPERTY_PREFIX):
        name = target[len(PROPERTY_PREFIX) :].strip()
        return PROPERTY_PREFIX + name if 0 < len(name) <= MAX_KEY_LENGTH else None
    simple = _simple_name(target)
    if simple in (*BUILTIN_FIELDS, PROPERTIES, IGNORE):
        return simple
    return None


def _automatic_field(column: str) -> str:
    """What a column maps to without a mapping: a field of the same name, else a property."""
    if not column:
        return IGNORE
    simple = _simple_name(column)
    if simple in (*BUILTIN_FIELDS, PROPERTIES):
        return simple
    if simple in EXPORT_ONLY_COLUMNS:
        return IGNORE
    if column.lower().startswith(PROPERTY_PREFIX) and len(column) > len(PROPERTY_PREFIX):
        return PROPERTY_PREFIX + column[len(PROPERTY_PREFIX) :].strip()
    return PROPERTY_PREFIX + column


def resolve_mapping(header: Sequence[str], mapping: Mapping | None) -> list[str]:
    """The field each column of `header` feeds. Columns the mapping leaves out map automatically.

    Raises InvalidInput naming every problem: an unknown field, a column that is not in the
    header, two columns for one field, too many properties, or no identifier column at all.
    """
    errors: list[FieldError] = []
    columns = [name.strip() for name in header]
    explicit: dict[str, str] = {}
    for column, target in (mapping or {}).items():
        key = column.strip()
        where = f"mapping.{key}"
        field = _field_named(target)
        if key not in columns:
            errors.append(FieldError(where, "the file's header has no such column"))
        elif columns.count(key) > 1:
            errors.append(FieldError(where, "the file's header has this column more than once"))
        if field is None:
            errors.append(FieldError(where, f"unknown field {target!r}: {FIELD_HELP}"))
        else:
            explicit[key] = field
    fields = [explicit.get(column, _automatic_field(column)) for column in columns]
    # A common spelling ("E-mail", "Zip") feeds its field unless another column already does:
    # then it stays a custom property, as before spellings were known.
    taken = set(fields)
    for index, column in enumerate(columns):
        spelled = None if column in explicit else field_for_header(column)
        if spelled is not None and spelled not in taken:
            fields[index] = spelled
            taken.add(spelled)

    sources: dict[str, list[str]] = {}
    for column, field in zip(columns, fields, strict=True):
        if field != IGNORE:
            sources.setdefault(field, []).append(column)
    for field, names in sources.items():
        if len(names) > 1:
            listed = ", ".join(repr(n) for n in names)
            errors.append(
                FieldError(
                    f"mapping.{names[1]}",
                    f"{field} would come from {len(names)} columns ({listed}); "
                    "map all but one to another field or to ignore",
                )
            )
        if field.startswith(PROPERTY_PREFIX) and len(field) - len(PROPERTY_PREFIX) > MAX_KEY_LENGTH:
            errors.append(
                FieldError(f"mapping.{names[0]}", f"property names are at most {MAX_KEY_LENGTH}")
            )
    property_count = sum(1 for field in sources if field.startswith(PROPERTY_PREFIX))
    if property_count > MAX_PROPERTIES:
        errors.append(
            FieldError(
                "mapping",
                f"{property_count} columns would become custom properties; a profile has at most "
                f"{MAX_PROPERTIES}: map the others to ignore",
            )
        )
    if not any(field in IDENTIFIERS for field in sources):
        errors.append(
            FieldError(
                "mapping" if mapping else "file",
                "no column maps to email, phone or external_id: name a column so, "
                "or map one in `mapping`",
            )
        )
    if errors:
        message = "; ".join(f"{e.field}: {e.reason}" for e in errors[:3])
        raise InvalidInput(f"the file cannot be imported as it is: {message}", errors)
    return fields
