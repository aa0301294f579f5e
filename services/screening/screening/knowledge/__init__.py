"""The versioned clinical knowledge of the screen, loaded from YAML.

The knowledge base is data, not code: DN4 items and cut-off, pattern rules,
weighted per-condition proxies, alternative causes, red flags, tiers, work-up
and key items, each rule with its published source. Changing a weight means
editing YAML and bumping the version, never changing the engine.

    knowledge = load_knowledge()          # the newest version, cached
    knowledge = load_knowledge("1.0.0")   # a pinned version
"""

from __future__ import annotations

from screening.knowledge.base import Knowledge
from screening.knowledge.contract import Contract, ItemSpec
from screening.knowledge.errors import KnowledgeError
from screening.knowledge.loader import available_versions, load_knowledge, load_knowledge_file

__all__ = [
    "Contract",
    "ItemSpec",
    "Knowledge",
    "KnowledgeError",
    "available_versions",
    "load_knowledge",
    "load_knowledge_file",
]
