"""Save-time checks of a template: `check_template` finds every problem a person can fix at save
time: Jinja syntax errors and names that do not exist (with line and column), sandbox-escape
attempts, and the unsubscribe link and postal address that marketing email must carry."""

from __future__ import annotations

import re
import string

from jinja2 import TemplateSyntaxError, nodes
from jinja2.meta import find_undeclared_variables

from herald.templates.constructs import (
    _BLOCK_TAGS,
    _CLOSERS,
    _Construct,
    _constructs,
    _find_in_constructs,
    _first_column,
    _line_span,
    _position,
    _scan,
    _tag_name,
)
from herald.templates.contract import (
    CONTEXT_NAMES,
    ORGANIZATION_FIELDS,
    UNSUBSCRIBE_NAMES,
    TemplateError,
    TemplateProblem,
)
from herald.templates.sandbox import _ENVIRONMENTS, _HTML_ENV, TOO_DEEP

# Problems reported per field: enough to fix, not a wall of text.
MAX_PROBLEMS = 20


def _syntax_problem(field: str, source: str, exc: TemplateSyntaxError) -> TemplateProblem:
    message = exc.message or str(exc)
    constructs, unclosed_at = _scan(source)
    if unclosed_at is not None:
        opener_text = source[unclosed_at : unclosed_at + 2]
        where = _position(source, unclosed_at)
        return TemplateProblem(
            field, f"{opener_text} is never closed with {_CLOSERS[opener_text]}", *where
        )
    if "end of template" in message.lower():
        unclosed = _innermost_unclosed_block(constructs)
        if unclosed is not None:
            where = _position(source, unclosed.start)
            name = _tag_name(unclosed)
            return TemplateProblem(
                field, f"{{% {name} %}} is never closed with {{% end{name} %}}", *where
            )
    stray = _stray_closer(constructs)
    if stray is not None and "unknown tag" in message:
        where = _position(source, stray.start)
        return TemplateProblem(field, f"{{% {_tag_name(stray)} %}} closes nothing here", *where)
    line = exc.lineno or 1
    column: int | None = None
    for token in re.findall(r"'([^']+)'", message):
        found = _find_in_constructs(source, constructs, line, re.compile(re.escape(token)))
        if found is not None and found[0] == line:
            column = found[1]
            break
    if column is None:
        start, end = _line_span(source, line)
        on_line = [c for c in constructs if start <= c.start <= end]
        column = _position(source, on_line[0].start)[1] if on_line else _first_column(source, line)
    return TemplateProblem(field, message, line, column)


def _stray_closer(constructs: list[_Construct]) -> _Construct | None:
    """The first end tag (or else/elif) with no open block to close."""
    stack: list[str] = []
    for construct in constructs:
        if construct.kind != "s":
            continue
        name = _tag_name(construct)
        if name == "set" and "=" in construct.text:
            continue
        if name in _BLOCK_TAGS:
            stack.append(name)
        elif name.startswith("end"):
            if name[3:] not in stack:
                return construct
            while stack.pop() != name[3:]:
                pass
        elif name in ("else", "elif") and not stack:
            return construct
    return None


def _innermost_unclosed_block(constructs: list[_Construct]) -> _Construct | None:
    stack: list[_Construct] = []
    for construct in constructs:
        if construct.kind != "s":
            continue
        name = _tag_name(construct)
        if name == "set" and "=" in construct.text:
            continue  # `{% set x = 1 %}` needs no end tag
        if name in _BLOCK_TAGS:
            stack.append(construct)
        elif name.startswith("end"):
            opened = name[3:]
            while stack:
                if _tag_name(stack.pop()) == opened:
                    break
    return stack[-1] if stack else None


def _format_fields(text: str) -> list[str]:
    try:
        return [name for _literal, name, _spec, _conv in string.Formatter().parse(text) if name]
    except ValueError:
        return []


def _structure_problems(field: str, source: str, tree: nodes.Template) -> list[TemplateProblem]:
    """Names that do not exist and constructs the sandbox would refuse at send time."""
    constructs = _constructs(source)
    problems: list[TemplateProblem] = []

    def at(node: nodes.Node, pattern: str, reason: str) -> None:
        if len(problems) >= MAX_PROBLEMS:
            return
        line = node.lineno
        found = _find_in_constructs(source, constructs, line, re.compile(pattern))
        column = found[1] if found and found[0] == line else _first_column(source, line)
        problems.append(TemplateProblem(field, reason, line, column))

    allowed = CONTEXT_NAMES | set(_HTML_ENV.globals)
    undeclared = find_undeclared_variables(tree) - allowed
    reported: set[str] = set()
    for name in tree.find_all(nodes.Name):
        if name.ctx != "load" or name.name in reported:
            continue
        if name.name in undeclared or name.name in ("self", "super"):
            reported.add(name.name)
            known = ", ".join(sorted(CONTEXT_NAMES))
            at(
                name,
                rf"(?<![\w.]){re.escape(name.name)}\b",
                f"'{name.name}' is not defined (templates can use {known})",
            )
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        attribute = node.attr if isinstance(node, nodes.Getattr) else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            attribute = node.arg.value if isinstance(node.arg.value, str) else None
        if attribute is None:
            continue
        if attribute.startswith("_"):
            at(node, re.escape(attribute), f"'{attribute}': names starting with _ are not allowed")
        elif (
            isinstance(node.node, nodes.Name)
            and node.node.name == "organization"
            and attribute not in ORGANIZATION_FIELDS
        ):
            at(
                node,
                rf"\b{re.escape(attribute)}\b",
                f"organization has no field '{attribute}' "
                f"(it has {', '.join(ORGANIZATION_FIELDS)})",
            )
    for call in tree.find_all(nodes.Call):
        target = call.node
        if (
            isinstance(target, nodes.Getattr)
            and target.attr in ("format", "format_map")
            and isinstance(target.node, nodes.Const)
            and isinstance(target.node.value, str)
            and any("." in f or "[" in f for f in _format_fields(target.node.value))
        ):
            at(call, r"format", "format fields may not reach into attributes or items")
    for filter_node in tree.find_all(nodes.Filter):
        if filter_node.name == "attr" and any(
            isinstance(arg, nodes.Const) and str(arg.value).startswith("_")
            for arg in filter_node.args
        ):
            at(filter_node, r"attr", "names starting with _ are not allowed")
    for statement in tree.find_all((nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
        keyword = type(statement).__name__.lower().replace("fromimport", "from")
        at(
            statement,
            rf"\b{keyword}\b",
            "templates cannot include, extend or import other templates",
        )
    return problems


def _uses_unsubscribe(tree: nodes.Template) -> bool:
    return any(n.name in UNSUBSCRIBE_NAMES and n.ctx == "load" for n in tree.find_all(nodes.Name))


def _uses_postal_address(tree: nodes.Template) -> bool:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        if not (isinstance(node.node, nodes.Name) and node.node.name == "organization"):
            continue
        if isinstance(node, nodes.Getattr) and node.attr == "postal_address":
            return True
        if isinstance(node, nodes.Getitem) and (
            isinstance(node.arg, nodes.Const) and node.arg.value == "postal_address"
        ):
            return True
    return False


UNSUBSCRIBE_REASON = (
    "marketing email needs an unsubscribe link: add "
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a> (or link to {{ preferences_url }})'
)
POSTAL_ADDRESS_REASON = (
    "marketing email must show your postal address (CAN-SPAM): add "
    "{{ organization.postal_address }}"
)


def _check_one(
    field: str, source: str, kind: str, marketing: bool
) -> tuple[list[TemplateProblem], nodes.Template | None]:
    environment = _ENVIRONMENTS[kind]
    try:
        tree = environment.parse(source)
        environment.compile(tree)  # unknown filters and tests surface here
        problems = _structure_problems(field, source, tree)[:MAX_PROBLEMS]
    except TemplateSyntaxError as exc:
        return [_syntax_problem(field, source, exc)], None
    except RecursionError:
        return [TemplateProblem(field, TOO_DEEP)], None
    if marketing:
        if not _uses_unsubscribe(tree):
            problems.append(TemplateProblem(field, UNSUBSCRIBE_REASON))
        if not _uses_postal_address(tree):
            problems.append(TemplateProblem(field, POSTAL_ADDRESS_REASON))
    return problems, tree


def check_template(
    *, subject: str, preheader: str | None, html: str, text: str | None, marketing: bool
) -> None:
    """Every problem a person can fix before sending, or nothing. `html` is the body as written
    (MJML or HTML; Jinja positions refer to it). Marketing templates must use `unsubscribe_url`
    (or `preferences_url`) and `organization.postal_address` in the HTML, and in the plain-text
    part when one is written."""
    problems: list[TemplateProblem] = []
    parts: list[tuple[str, str | None, str, bool]] = [
        ("subject", subject, "text", False),
        ("preheader", preheader, "text", False),
        ("body", html, "html", marketing),
        ("text_body", text, "text", marketing),
    ]
    for field, source, kind, required in parts:
        if source is None:
            continue
        found, _tree = _check_one(field, source, kind, required)
        problems.extend(found)
    if problems:
        raise TemplateError(problems)
