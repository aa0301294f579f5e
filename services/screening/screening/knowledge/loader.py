"""Find, read, validate and cache knowledge versions.

Each version is one YAML file beside this module (``v1.yaml`` holds 1.0.0; the
file states its own version). A version is loaded and checked once per
process and then shared: :class:`Knowledge` is immutable, so every worker
thread can use the same instance.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from screening.knowledge.base import Knowledge
from screening.knowledge.errors import KnowledgeError
from screening.knowledge.model import LoadContext

KNOWLEDGE_DIR = Path(__file__).resolve().parent


def load_knowledge(version: str | None = None) -> Knowledge:
    """The knowledge base of ``version`` (e.g. ``"1.0.0"``), or the newest when ``None``.

    Cached per version. Raises :class:`KnowledgeError` for an unknown version or a
    malformed file, so a misconfigured worker fails at start-up, loudly.
    """
    files = available_versions()
    if not files:
        raise KnowledgeError(f"no knowledge files in {KNOWLEDGE_DIR}")
    if version is None:
        version = max(files, key=_semver)
    path = files.get(version)
    if path is None:
        raise KnowledgeError(f"unknown knowledge version {version!r}; have {sorted(files)}")
    return _load_cached(path)


def load_knowledge_file(path: Path) -> Knowledge:
    """Load one knowledge file without caching: for tests and for reviewing a draft."""
    data = _read(path)
    try:
        return Knowledge.model_validate(data, context=LoadContext(path.name))
    except ValidationError as error:
        raise KnowledgeError(f"{path.name}: invalid knowledge file\n{error}") from error


@cache
def available_versions() -> dict[str, Path]:
    """Every knowledge version on disk, mapped to its file."""
    versions: dict[str, Path] = {}
    for path in sorted(KNOWLEDGE_DIR.glob("v*.yaml")):
        data = _read(path)
        version = data.get("version") if isinstance(data, dict) else None
        if not isinstance(version, str):
            raise KnowledgeError(f"{path.name}: no version string")
        if version in versions:
            raise KnowledgeError(f"{path.name}: version {version} is also in {versions[version]}")
        versions[version] = path
    return versions


@cache
def _load_cached(path: Path) -> Knowledge:
    return load_knowledge_file(path)


def _read(path: Path) -> object:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as error:
        raise KnowledgeError(f"{path.name}: cannot read knowledge file: {error}") from error


def _semver(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))
