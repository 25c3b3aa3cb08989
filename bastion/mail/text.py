"""The plain-text part of an HTML mail, for clients (and filters) that read only text.

``html_to_text("<p>Hi <b>Ada</b></p><p><a href='https://x.example'>Reset</a></p>")`` gives
``"Hi Ada\\n\\nReset (https://x.example)"``: paragraphs and headings are separated by a
blank line, list items start with ``- `` (or their number), links keep their address,
images their ``alt`` text, and scripts, styles and the ``<head>`` disappear.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_PARAGRAPHS = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "table", "blockquote", "pre",
    "address", "figure", "hr",
}  # fmt: skip
_LINES = {
    "div", "section", "article", "header", "footer", "main", "nav", "aside", "tr", "li", "dt",
    "dd", "form", "fieldset", "center",
}  # fmt: skip
_HIDDEN = {"script", "style", "head", "title", "template", "noscript"}
_SPACES = re.compile(r"[ \t\r\n\f\v]+")


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.hidden = 0
        self.pre = 0
        self.lists: list[list[int]] = []  # per open list: [next number] (ol) or [] (ul)
        self.links: list[tuple[str, int]] = []  # href, position of the link text

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        if self.hidden:
            return
        values = dict(attrs)
        if tag in _PARAGRAPHS:
            self.breaks(2)
        elif tag in _LINES:
            self.breaks(1)
        if tag == "br":
            self.out.append("\n")
        elif tag == "hr":
            self.out.append("-" * 20)
            self.breaks(2)
        elif tag == "pre":
            self.pre += 1
        elif tag in ("ul", "ol"):
            self.lists.append([1] if tag == "ol" else [])
        elif tag == "li":
            numbering = self.lists[-1] if self.lists else []
            indent = "  " * max(len(self.lists) - 1, 0)
            if numbering:
                self.out.append(f"{indent}{numbering[0]}. ")
                numbering[0] += 1
            else:
                self.out.append(f"{indent}- ")
        elif tag in ("td", "th"):
            self.space()
        elif tag == "a":
            self.links.append((values.get("href") or "", len(self.out)))
        elif tag == "img":
            alt = (values.get("alt") or "").strip()
            if alt:
                self.text(alt)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(self.hidden - 1, 0)
            return
        if self.hidden:
            return
        if tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(self.out[start:]).strip()
            if href and not href.startswith(("#", "javascript:", "cid:")):
                shown = href.removeprefix("mailto:")
                if not label:
                    self.out.append(shown)
                elif label.rstrip("/") != shown.rstrip("/"):
                    self.out.append(f" ({shown})")
        elif tag == "pre":
            self.pre = max(self.pre - 1, 0)
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        elif tag in ("td", "th"):
            self.space()
        if tag in _PARAGRAPHS:
            self.breaks(2)
        elif tag in _LINES:
            self.breaks(1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "hr", "img"):
            self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self.pre:
            self.out.append(data)
        else:
            self.text(_SPACES.sub(" ", data))

    def text(self, text: str) -> None:
        if not text:
            return
        if self.at_line_start():
            text = text.lstrip(" ")
        elif text.startswith(" ") and self.out and self.out[-1].endswith(" "):
            text = text[1:]
        if text:
            self.out.append(text)

    def space(self) -> None:
        if self.out and not self.at_line_start() and not self.out[-1].endswith(" "):
            self.out.append(" ")

    def at_line_start(self) -> bool:
        for chunk in reversed(self.out):
            if chunk:
                return chunk.endswith("\n")
        return True

    def breaks(self, count: int) -> None:
        """End the current line and leave ``count - 1`` blank lines (never at the start)."""
        if not any(self.out):
            return
        text = "".join(self.out[-6:]).rstrip(" ")
        have = len(text) - len(text.rstrip("\n"))
        if have < count:
            self.out.append("\n" * (count - have))


def html_to_text(html: str) -> str:
    """A readable plain-text version of an HTML mail body."""
    converter = _Converter()
    converter.feed(html)
    converter.close()
    lines = [line.rstrip() for line in "".join(converter.out).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"
