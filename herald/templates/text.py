"""The plain-text part of an email, derived from its HTML: `html_to_text`, and for a template
without a text part, a Jinja text template derived once per HTML source (cached), so that a
message costs one pass of each compiled template."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

from jinja2 import Template as JinjaTemplate
from jinja2 import TemplateSyntaxError

from herald.templates.compiling import _protect, _restore
from herald.templates.constructs import _BLOCK_TAGS, _Construct, _tag_name
from herald.templates.sandbox import _compiled

_SKIPPED = frozenset({"head", "style", "script", "title", "template", "noscript"})
_PARAGRAPH = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "ul", "ol", "hr", "pre"}
)
_LINE = frozenset(
    {"div", "tr", "br", "li", "section", "article", "header", "footer", "center", "address"}
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none", re.I)
_STATEMENT = re.compile(r"zqjs\d{6}q")
_STATEMENT_SPLIT = re.compile(r"(zqjs\d{6}q)")
_CLOSING_TAGS = frozenset({"else", "elif"}) | {f"end{name}" for name in _BLOCK_TAGS}


class _TextMaker(HTMLParser):
    """Readable plain text from (placeholder-protected) HTML: paragraphs and lines, "- " list
    items, links as "text (url)"; no head, style, script or hidden elements. Jinja statements
    are kept wherever they occur, so the result is a template with the same logic."""

    def __init__(self, constructs: list[_Construct] | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.constructs = constructs or []
        self.out: list[str] = []
        self.breaks = 0
        self.skip: list[str] = []  # tags of the skipped elements we are inside
        self.links: list[tuple[str, int]] = []
        self.lists: list[list[int]] = []  # per open list: [next number] or [] for bullets

    def _break(self, count: int) -> None:
        self.breaks = max(self.breaks, count)

    def _write(self, text: str) -> None:
        if not text:
            return
        if self.breaks and self.out:
            self.out.append("\n" * self.breaks)
        self.breaks = 0
        self.out.append(text)

    def _keep_statements(self, text: str) -> None:
        for statement in _STATEMENT.findall(text):
            self.out.append(statement)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        raw = self.get_starttag_text() or ""
        href = values.get("href") or ""
        self._keep_statements(raw.replace(href, "") if href else raw)
        if self.skip:
            if tag == self.skip[0]:
                self.skip.append(tag)
            return
        if tag in _SKIPPED or _HIDDEN_STYLE.search(values.get("style") or ""):
            if tag not in ("br", "hr", "img", "meta", "link", "input"):
                self.skip.append(tag)
            return
        if tag in _PARAGRAPH:
            self._break(2)
        elif tag in _LINE:
            self._break(1)
        if tag in ("ul", "ol"):
            self.lists.append([1] if tag == "ol" else [])
        elif tag == "li":
            self._break(1)
            marker = "- "
            if self.lists and self.lists[-1]:
                marker = f"{self.lists[-1][0]}. "
                self.lists[-1][0] += 1
            self._write(marker)
        elif tag == "a":
            self.links.append((href.strip(), len(self.out)))
        elif tag == "img" and self.links and values.get("alt"):
            self._write(_literal(values["alt"] or ""))
        elif tag in ("td", "th"):
            self._write(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "hr", "img"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            if tag == self.skip[0]:
                self.skip.pop()
            return
        if tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        if tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(self.out[start:]).strip()
            shown = href.removeprefix("mailto:")
            if href and not href.startswith("#") and shown != label:
                text = _literal(href)
                self._write(f" ({text})" if label else text)
        if tag in _PARAGRAPH:
            self._break(2)
        elif tag in _LINE:
            self._break(1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            self._keep_statements(data)
            return
        for piece in _STATEMENT_SPLIT.split(data):
            if _STATEMENT.fullmatch(piece):
                self._statement(piece)
            elif piece:
                self._text(piece)

    def _statement(self, placeholder: str) -> None:
        # Line breaks owed before an opening tag belong outside it; those owed before a closing
        # tag stay owed, so that a loop body does not end with the break its next item repeats.
        if _tag_name(self.constructs[int(placeholder[4:10])]) not in _CLOSING_TAGS:
            if self.breaks and self.out:
                self.out.append("\n" * self.breaks)
            self.breaks = 0
        self.out.append(placeholder)

    def _text(self, data: str) -> None:
        text = re.sub(r"\s+", " ", data)
        if not text.strip():
            if self.out and not self.breaks and not self.out[-1].endswith((" ", "\n")):
                self.out.append(" ")
            return
        if self.breaks or not self.out or self.out[-1].endswith("\n"):
            text = text.lstrip()
        self._write(_literal(text))

    def handle_comment(self, data: str) -> None:
        self._keep_statements(data)

    def text(self) -> str:
        return "".join(self.out)


def _literal(text: str) -> str:
    """Text from the HTML, safe to put in a Jinja template (placeholders pass)."""
    return text.replace("{", "{{ '{' }}")


_SPACE_BEFORE_BREAK = re.compile(r"[ \t\u00a0]+\n")
_SPACE_AFTER_BREAK = re.compile(r"\n[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


_UNTIDY = re.compile(r"[ \t\u00a0]\n|\n[ \t\u00a0]|\n\n\n")


def _tidy_text(text: str) -> str:
    if _UNTIDY.search(text):
        text = _SPACE_BEFORE_BREAK.sub("\n", text)
        text = _SPACE_AFTER_BREAK.sub("\n", text)
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip() + "\n"


def html_to_text(html: str) -> str:
    """Readable plain text of rendered HTML (no Jinja in it)."""
    maker = _TextMaker()
    maker.feed(html)
    maker.close()
    return _tidy_text(html_lib.unescape(maker.text().replace("{{ '{' }}", "{")))


@dataclass(frozen=True)
class _TextTemplate:
    template: JinjaTemplate
    # Whether its statements ({% if %}, loops) can leave blank lines to tidy in each message;
    # output alone cannot, beyond what values bring (left as they are).
    tidy: bool

    def render(self, context: Mapping[str, Any]) -> str:
        text = self.template.render(context)
        return _tidy_text(text) if self.tidy else text.strip() + "\n"


@lru_cache(maxsize=256)
def _text_template(html: str) -> _TextTemplate | None:
    """The plain-text part of a Jinja-in-HTML template, as a template of its own, or None when
    its Jinja cannot be separated from the HTML (then each rendered message is converted)."""
    protected, constructs = _protect(html)
    maker = _TextMaker(constructs)
    maker.feed(protected)
    maker.close()
    text = _tidy_text(maker.text())
    source = _restore(text, constructs)
    try:
        template = _compiled("text", source)
    except (TemplateSyntaxError, RecursionError):
        return None
    return _TextTemplate(template, tidy=_STATEMENT.search(text) is not None)
