"""Server-side templates (Jinja2, autoescaped)."""

from bastion.templates.jinja import Templates

__all__ = ["Templates"]
