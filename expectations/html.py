"""What the offline HTML reports share: the templates folder and one Jinja2 set-up."""

from __future__ import annotations

from pathlib import Path

import jinja2

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
NO_VALUE = "\u2013"  # an en dash: shown where a count, share or statistic does not exist


def template_environment() -> jinja2.Environment:
    """A Jinja2 environment over ``expectations/templates``.

    Autoescaping is on (check descriptions, config text and labels are data to the page, never
    markup) and an undefined name fails the rendering instead of printing nothing.
    """
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
