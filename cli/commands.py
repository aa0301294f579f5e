"""The commands `neuroscreen` offers, in the order `--help` lists them.

A command module defines `register(subparsers)`, which adds its parser and sets
`run=<function(arguments) -> exit code>` as the parser's default.
"""

from __future__ import annotations

from types import ModuleType

from cli import import_backlog, post, rescreen, status

ALL: tuple[ModuleType, ...] = (post, status, rescreen, import_backlog)
