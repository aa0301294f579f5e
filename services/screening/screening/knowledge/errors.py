"""The one error a knowledge base can raise: it is malformed and must not be used."""

from __future__ import annotations


class KnowledgeError(Exception):
    """The knowledge base is malformed; the message names the file and the rule.

    Raised at load time only. A worker that cannot load its knowledge must fail
    loudly at start-up rather than score responses with half a rule set.
    """
