"""MJML compilation: `compile_body` turns MJML into HTML once, at save, with the Jinja in it
untouched (protected by placeholders while mjml compiles), after checking the structure and
nesting depth that mjml can handle."""

from __future__ import annotations

import re

from jinja2 import TemplateSyntaxError

from herald.templates.constructs import _Construct, _constructs, _position
from herald.templates.contract import TemplateError, TemplateProblem
from herald.templates.sandbox import TOO_DEEP, _compiled

_PLACEHOLDER = re.compile(r"zqj([sec])(\d{6})q")


def _protect(source: str) -> tuple[str, list[_Construct]]:
    """The source with each Jinja construct replaced by a plain-word placeholder that MJML and
    HTML parsers leave alone (quotes and < > inside Jinja would otherwise confuse them)."""
    constructs = _constructs(source)
    pieces: list[str] = []
    last = 0
    for index, construct in enumerate(constructs):
        pieces.append(source[last : construct.start])
        pieces.append(f"zqj{construct.kind}{index:06d}q")
        last = construct.end
    pieces.append(source[last:])
    return "".join(pieces), constructs


def _original_offset(offset: int, constructs: list[_Construct]) -> int:
    """An offset in `_protect`'s output as an offset in the source it protected."""
    shift = 0
    for index, construct in enumerate(constructs):
        start = construct.start - shift
        width = len(f"zqj{construct.kind}{index:06d}q")
        if offset < start:
            break
        if offset < start + width:
            return construct.start
        shift += (construct.end - construct.start) - width
    return offset + shift


def _restore(text: str, constructs: list[_Construct]) -> str:
    return _PLACEHOLDER.sub(lambda m: constructs[int(m.group(2))].text, text)


def _blank_jinja(source: str) -> str:
    """The source with Jinja replaced by spaces, offsets and line breaks kept."""
    pieces: list[str] = []
    last = 0
    for construct in _constructs(source):
        pieces.append(source[last : construct.start])
        pieces.append(re.sub(r"[^\n]", " ", construct.text))
        last = construct.end
    pieces.append(source[last:])
    return "".join(pieces)


_MJ_TAG = re.compile(r"<(/?)(mjml|mj-[a-z-]+)\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.I)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_MJ_RAW = re.compile(r"(<mj-raw\b[^>]*>)(.*?)(</mj-raw\s*>)", re.S | re.I)


def _mjml_structure_problem(source: str) -> TemplateProblem | None:
    """Where an MJML document's tags stop matching, for an error mjml-python reports without a
    position."""
    text = _blank_jinja(source)
    text = _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)
    text = _MJ_RAW.sub(lambda m: m.group(1) + re.sub(r"[^\n]", " ", m.group(2)) + m.group(3), text)
    if "<mjml" not in text.lower():
        return TemplateProblem("body", "an MJML body starts with <mjml> (or choose HTML)", 1, 1)
    stack: list[tuple[str, int]] = []
    for match in _MJ_TAG.finditer(text):
        closing, name, rest = match.group(1), match.group(2).lower(), match.group(3)
        if not closing:
            if not rest.rstrip().endswith("/"):
                stack.append((name, match.start()))
            continue
        line, column = _position(source, match.start())
        if not stack:
            return TemplateProblem("body", f"</{name}> closes nothing", line, column)
        opened, offset = stack.pop()
        if opened != name:
            opened_line, opened_column = _position(source, offset)
            return TemplateProblem(
                "body",
                f"</{name}> does not close <{opened}> "
                f"(opened at line {opened_line}, column {opened_column})",
                line,
                column,
            )
    if stack:
        name, offset = stack[-1]
        line, column = _position(source, offset)
        return TemplateProblem("body", f"<{name}> is never closed", line, column)
    return None


_ANY_TAG = re.compile(r"<(/?)([a-zA-Z][\w:.-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
# mjml-python recurses per nesting level and overflows the stack (killing the process) some
# thousand levels down; no email needs a tenth of these.
MAX_MJML_DEPTH = 100
MAX_TAG_DEPTH = 500


def _nesting_problem(source: str) -> TemplateProblem | None:
    depth = {"mj": 0, "all": 0}
    for match in _ANY_TAG.finditer(_blank_jinja(source)):
        closing, name, rest = match.group(1), match.group(2).lower(), match.group(3)
        if name in _VOID or rest.rstrip().endswith("/"):
            continue
        step = -1 if closing else 1
        is_mjml = name == "mjml" or name.startswith("mj-")
        for kind in ("mj", "all") if is_mjml else ("all",):
            depth[kind] = max(0, depth[kind] + step)
        if depth["mj"] > MAX_MJML_DEPTH or depth["all"] > MAX_TAG_DEPTH:
            line, column = _position(source, match.start())
            return TemplateProblem("body", "elements are nested too deeply", line, column)
    return None


def compile_body(body_format: str, body: str) -> str:
    """The body as HTML with its Jinja intact: MJML is compiled (TemplateError naming `body` when
    it does not compile), HTML passes through."""
    if body_format == "html":
        return body
    if body_format != "mjml":
        raise TemplateError([TemplateProblem("body_format", "must be mjml or html")])
    from mjml import mjml2html  # a native extension: load it only where MJML is compiled

    too_deep = _nesting_problem(body)
    if too_deep is not None:
        raise TemplateError([too_deep])
    protected, constructs = _protect(body)
    try:
        # No automatic web-font imports: a self-hosted install should not make every open ping
        # a font CDN. <mj-font> still adds fonts explicitly.
        compiled = mjml2html(protected, fonts={})
    except ValueError as exc:
        problem = _mjml_structure_problem(body)
        if problem is None:
            message = str(exc)
            where: tuple[int | None, int | None] = (None, None)
            found = re.search(r" at position (\d+):\d+", message)
            if found:
                message = message[: found.start()] + message[found.end() :]
                where = _position(body, _original_offset(int(found.group(1)), constructs))
            problem = TemplateProblem("body", f"MJML could not be compiled: {message}", *where)
        raise TemplateError([problem]) from exc
    seen = {int(m.group(2)) for m in _PLACEHOLDER.finditer(compiled)}
    for index, construct in enumerate(constructs):
        if construct.kind != "c" and index not in seen:
            line, column = _position(body, construct.start)
            raise TemplateError(
                [
                    TemplateProblem(
                        "body",
                        f"MJML dropped {construct.text[:40]} here: put Jinja that sits between "
                        "MJML elements inside <mj-raw>",
                        line,
                        column,
                    )
                ]
            )
    html = _restore(compiled, constructs)
    try:
        _compiled("html", html)
    except RecursionError as exc:
        raise TemplateError([TemplateProblem("body", TOO_DEEP)]) from exc
    except TemplateSyntaxError as exc:  # MJML moved Jinja apart (it was valid in the source)
        raise TemplateError(
            [
                TemplateProblem(
                    "body",
                    f"the Jinja no longer fits together after MJML compiled it ({exc.message}): "
                    "put Jinja that sits between MJML elements inside <mj-raw>",
                )
            ]
        ) from exc
    return html
