"""The dev debug page, as HTML for browsers and as plain text for ``curl`` and logs.

Both render the same ``DebugInfo`` (already masked). The HTML page is self-contained: its
style and one small script (the copy-as-text button) carry a nonce named in the page's own
Content-Security-Policy, so the page works under ``SecurityHeaders`` and loads nothing.
"""

from __future__ import annotations

import secrets
from html import escape

from bastion.middleware._debug_info import DebugInfo, ErrorInfo, Frame

_RELATION = {
    "cause": "The above exception was the direct cause of the following exception:",
    "context": "During handling of the above exception, another exception occurred:",
}


def render_text(info: DebugInfo) -> str:
    """A traceback as Python prints it (oldest exception first), then locals and request."""
    out: list[str] = []
    for error in reversed(info.errors):
        out.append("Traceback (most recent call last):")
        for frame in error.frames:
            out.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.function}')
            line = _failing_line(frame)
            if line:
                out.append(f"    {line.strip()}")
            for name, value in frame.locals:
                out.append(f"        {name} = {value}")
        out.append(f"{error.type_name}: {error.message}" if error.message else error.type_name)
        if error is not info.errors[0]:
            out += ["", _RELATION[_relation_to_next(info, error)], ""]
    for title, rows in _sections(info):
        out += ["", f"{title}:"]
        out += [f"  {name}: {value}" for name, value in rows] or ["  (none)"]
    out += ["", "Body:", *("  " + line for line in info.body.splitlines())]
    return "\n".join(out) + "\n"


def _relation_to_next(info: DebugInfo, error: ErrorInfo) -> str:
    """How the error shown after ``error`` (the one that led to it) relates to it."""
    index = info.errors.index(error)
    return info.errors[index - 1].relation or "context"


def _failing_line(frame: Frame) -> str:
    index = frame.lineno - frame.first_line
    return frame.lines[index] if 0 <= index < len(frame.lines) else ""


def _sections(info: DebugInfo) -> list[tuple[str, list[tuple[str, str]]]]:
    return [
        ("Request", info.request),
        ("Headers", info.headers),
        ("Query", info.query),
        ("Cookies", info.cookies),
        ("Route", info.route),
        ("Application", info.app),
    ]


def render_html(info: DebugInfo) -> tuple[str, str]:
    """The page and its Content-Security-Policy header value."""
    nonce = secrets.token_urlsafe(16)
    first = info.errors[0]
    chain = []
    for error in reversed(info.errors):
        chain.append(_error_html(error))
        if error is not first:
            chain.append(
                f"<p class='relation'>{escape(_RELATION[_relation_to_next(info, error)])}</p>"
            )
    tables = "".join(
        f"<section><h2>{escape(title)}</h2>{_table(rows)}</section>"
        for title, rows in _sections(info)
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(first.type_name)} · Bastion debug</title>
<style nonce="{nonce}">{_STYLE}</style></head>
<body>
<header><div class="wrap">
<p class="kind">Unhandled exception · {escape(_value(info.request, "Method"))}
{escape(_value(info.request, "URL"))}</p>
<h1>{escape(first.type_name)}</h1>
<p class="message">{escape(first.message) or "<i>(no message)</i>"}</p>
<button id="copy" type="button">Copy as text</button>
</div></header>
<main class="wrap">
<h2>Traceback <small>most recent call last</small></h2>
{"".join(chain)}
<div class="grid">{tables}
<section class="body"><h2>Body preview</h2><pre>{escape(info.body)}</pre></section></div>
<p class="note">Shown because debug is on (the <code>dev</code> profile); it is never shown in
<code>prod</code>. Secret-looking names and the settings' secret values are masked.</p>
</main>
<textarea id="plain" hidden readonly>{escape(render_text(info))}</textarea>
<script nonce="{nonce}">{_SCRIPT}</script>
</body></html>"""
    policy = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return page, policy


def _value(rows: list[tuple[str, str]], name: str) -> str:
    return next((v for k, v in rows if k == name), "")


def _error_html(error: ErrorInfo) -> str:
    frames = "".join(_frame_html(f, i == len(error.frames) - 1) for i, f in enumerate(error.frames))
    return (
        f"<article class='error'><h3>{escape(error.type_name)}"
        f"<span>{escape(error.message)}</span></h3>{frames or '<p>(no frames)</p>'}</article>"
    )


def _frame_html(frame: Frame, last: bool) -> str:
    rows = []
    for offset, line in enumerate(frame.lines):
        number = frame.first_line + offset
        mark = " class='hit'" if number == frame.lineno else ""
        rows.append(f"<tr{mark}><td>{number}</td><td>{escape(line) or ' '}</td></tr>")
    source = (
        f"<table class='src'>{''.join(rows)}</table>" if rows else "<p>(source unavailable)</p>"
    )
    local_rows = _table(frame.locals) if frame.locals else "<p class='none'>no locals</p>"
    kind = "lib" if frame.library else "app"
    is_open = " open" if last or not frame.library else ""
    return (
        f"<details class='frame {kind}'{is_open}><summary><code>{escape(frame.function)}</code>"
        f"<span class='file'>{escape(frame.filename)}:{frame.lineno}</span></summary>"
        f"{source}<div class='locals'><h4>Locals</h4>{local_rows}</div></details>"
    )


def _table(rows: list[tuple[str, str]]) -> str:
    if not rows:
        return "<p class='none'>none</p>"
    body = "".join(
        f"<tr><th>{escape(name)}</th><td><code>{escape(value)}</code></td></tr>"
        for name, value in rows
    )
    return f"<table class='kv'>{body}</table>"


_STYLE = """
*{box-sizing:border-box}body{margin:0;font:14px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;
color:#1d2330;background:#f4f5f8}.wrap{max-width:1100px;margin:0 auto;padding:0 24px}
header{background:#1d2330;color:#fff;padding:22px 0 26px;border-bottom:4px solid #d9384a}
header .kind{margin:0;color:#aab2c5;font-size:13px;word-break:break-all}
h1{margin:4px 0 2px;font-size:26px;color:#ff7a88}.message{margin:0 0 14px;font-size:16px;
white-space:pre-wrap;word-break:break-word}
#copy{font:inherit;border:1px solid #596380;background:#2c3447;color:#fff;border-radius:6px;
padding:5px 12px;cursor:pointer}#copy:hover{background:#3a4460}
h2{font-size:17px;margin:26px 0 10px}h2 small{color:#7a8299;font-weight:normal;font-size:13px}
.error{background:#fff;border:1px solid #dde0e8;border-radius:8px;padding:4px 14px 10px}
.error h3{font-size:15px;margin:10px 0;color:#b4233a}.error h3 span{color:#1d2330;
font-weight:normal;margin-left:8px}.relation{color:#59627a;font-style:italic;margin:14px 4px}
details.frame{border:1px solid #e3e6ee;border-radius:6px;margin:8px 0;background:#fbfbfd}
details.frame.app{border-left:4px solid #3a6fd8}details.frame.lib{border-left:4px solid #c4c9d6}
summary{cursor:pointer;padding:7px 10px;display:flex;gap:12px;align-items:baseline}
summary code{font-weight:600}.file{color:#6b7389;font-size:12px;word-break:break-all}
table.src{width:100%;border-collapse:collapse;font:12.5px/1.45 ui-monospace,SFMono-Regular,
Menlo,Consolas,monospace;background:#fff;border-top:1px solid #e3e6ee}
table.src td{padding:0 10px;white-space:pre}table.src td:first-child{width:1%;color:#9aa1b4;
text-align:right;user-select:none}table.src tr.hit{background:#ffe9ec}
table.src tr.hit td:first-child{color:#b4233a;font-weight:700}
.locals{padding:6px 10px 10px}.locals h4{margin:4px 0;font-size:12px;text-transform:uppercase;
letter-spacing:.05em;color:#6b7389}table.kv{border-collapse:collapse;width:100%}
table.kv th{text-align:left;vertical-align:top;padding:3px 12px 3px 0;width:28%;
font:600 12.5px ui-monospace,SFMono-Regular,Menlo,monospace;color:#414a61;word-break:break-all}
table.kv td{padding:3px 0;word-break:break-all}table.kv td code{font:12.5px ui-monospace,
SFMono-Regular,Menlo,monospace}table.kv tr+tr{border-top:1px solid #eef0f5}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:0 24px}.grid section{min-width:0}
.grid .body{grid-column:1/-1}.body pre{background:#fff;border:1px solid #e3e6ee;padding:10px;
border-radius:6px;overflow:auto;max-height:320px;margin:0}.none{color:#8a91a6;margin:4px 0}
.note{color:#6b7389;font-size:12.5px;margin:28px 0}
@media (max-width:800px){.grid{grid-template-columns:1fr}}
"""

_SCRIPT = """
(function(){var b=document.getElementById('copy'),t=document.getElementById('plain');
function done(ok){b.dataset.copied=ok?'yes':'no';
b.textContent=ok?'Copied':'Select and copy';setTimeout(function(){
b.textContent='Copy as text'},1800)}
b.addEventListener('click',function(){var text=t.value;
if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(text).then(
function(){done(true)},function(){done(false)});return}
t.hidden=false;t.select();var ok=false;try{ok=document.execCommand('copy')}catch(e){}
t.hidden=true;done(ok)});})();
"""
