"""The contract of template rendering: the names a template may use, and the types the rest of
Herald gets back (problems found at save, the error that carries them, a template's parts and a
rendered email). `herald.templates.rendering` re-exports them as its public interface."""

from __future__ import annotations

from dataclasses import dataclass

from herald.models.profile import DESCRIPTIVE_FIELDS, IDENTIFIERS

# The names a template may use; `{% set %}`, loops and macros may define more.
CONTEXT_NAMES = frozenset(
    {"profile", "organization", "data", "event", "unsubscribe_url", "preferences_url"}
)
UNSUBSCRIBE_NAMES = frozenset({"unsubscribe_url", "preferences_url"})
ORGANIZATION_FIELDS = ("name", "postal_address", "timezone")
# Profile fields exposed by name; a custom property with one of these names is only reachable as
# `profile.properties.<name>`.
PROFILE_FIELDS = ("id", *IDENTIFIERS, *DESCRIPTIVE_FIELDS, "created_at", "properties")
BODY_FORMATS = ("mjml", "html")


@dataclass(frozen=True)
class TemplateProblem:
    field: str  # "subject", "preheader", "body" or "text_body"
    reason: str
    line: int | None = None
    column: int | None = None

    def describe(self) -> str:
        """The reason with its position first, as people read it: "line 3, column 5: ..."."""
        if self.line is None:
            return self.reason
        if self.column is None:
            return f"line {self.line}: {self.reason}"
        return f"line {self.line}, column {self.column}: {self.reason}"


class TemplateError(ValueError):
    def __init__(self, problems: list[TemplateProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.describe()}" for p in problems))


@dataclass(frozen=True)
class TemplateParts:
    subject: str
    preheader: str | None
    html: str  # HTML with Jinja in it (MJML already compiled)
    text: str | None  # None: generated from the HTML


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    preheader: str | None
    html: str
    text: str
