"""Turn a validated knowledge file into the engine's precompiled :class:`Knowledge`.

Checks meaning, not just shape: every linkId, answer code, pattern, condition,
tier and workup code must exist in the contract; every source key must resolve
to a citation; rule ids are unique; rules look only at what their engine stage
already knows; no wording claims a classification. Any failure raises
:class:`KnowledgeError` naming the rule, so bad data never reaches a patient.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Iterable, Mapping
from typing import Any

from screening.knowledge import codegen, schema
from screening.knowledge.contract import build_contract
from screening.knowledge.errors import KnowledgeError
from screening.knowledge.model import (
    AlternativeCause,
    Alternatives,
    Dn4,
    KeyItemRule,
    Knowledge,
    PatternRule,
    Proxy,
    RedFlag,
    Rule,
    ScreenedCondition,
    TierRule,
    WorkupRule,
)
from screening.knowledge.nodes import Evidences
from screening.knowledge.rules import TIER_RANK, EvidenceTable, RuleCompiler, Stage
from screening.result import Contribution, Finding, UnansweredItem, WorkupStep

FORBIDDEN_WORDING = ("classified as", "classifies as", "meets criteria", "meets the criteria")
"""The screen never claims a classification or a diagnosis (clinical basis f.5)."""

KEY_ITEM_FIELDS = frozenset({"dn4_score", "dn4_unanswered", "dn4_cutoff"})


def compile_knowledge(data: schema.KnowledgeModel, origin: str) -> Knowledge:
    """Build the engine's knowledge from a validated file; ``origin`` names it in errors."""
    return _Compiler(data, origin).build()


def _stage(rules: tuple[Rule | RedFlag | WorkupRule, ...], name: str) -> codegen.StageCheck:
    return codegen.generate_stage(tuple(r.when.node for r in rules), name)  # type: ignore[union-attr]


def _workup_steps(
    rules: tuple[WorkupRule, ...],
) -> dict[tuple[str, tuple[str, ...]], WorkupStep]:
    """Every step any combination of rules can make, in engine order (a few hundred)."""
    by_code: dict[str, list[WorkupRule]] = {}
    for rule in rules:
        for code in rule.codes:
            by_code.setdefault(code, []).append(rule)
    steps = {}
    for code, suggesting in by_code.items():
        for size in range(1, len(suggesting) + 1):
            for chosen in itertools.combinations(suggesting, size):
                reasons = tuple(dict.fromkeys(rule.reason for rule in chosen))
                rule_ids = tuple(rule.id for rule in chosen)
                steps[code, rule_ids] = WorkupStep(code, reasons, rule_ids)
    return steps


class _Compiler:
    def __init__(self, data: schema.KnowledgeModel, origin: str) -> None:
        self.data = data
        self.origin = origin
        self.rule_ids: set[str] = set()
        self.weighted: list[tuple[codegen.WeightedRule, ...]] = []
        self.contract = build_contract(data.questionnaire, data.outputs, origin)
        self.evidence = EvidenceTable(self.contract.items)
        self.rules = RuleCompiler(
            self.contract.items,
            self.evidence,
            patterns=frozenset(self.contract.patterns),
            conditions=frozenset(self.contract.conditions),
        )

    def build(self) -> Knowledge:
        data = self.data
        self._check_wording()
        for name, fact in data.facts.items():
            self.cite(fact.source, f"fact {name}")
            self.rules.define_fact(name, fact.when, self.where(f"fact {name}"))
        if "neuropathy-evidence" not in self.rules.fact_names:
            raise KnowledgeError(f"{self.origin}: the fact 'neuropathy-evidence' is required")
        signs = tuple(self._rule(s, Stage.ANSWERS, "sign") for s in data.signs)
        tiers = self._tiers(data.tiers)
        patterns = tuple(self._pattern(p) for p in data.patterns)
        emergency = self._workup(data.workup.emergency, needs_when=False)
        red_flags = tuple(self._red_flag(r, emergency) for r in data.red_flags)
        flag_workup = tuple(flag.workup for flag in red_flags if flag.workup is not None)
        baseline = self._workup(data.workup.baseline, needs_when=False)
        workup = tuple(self._workup(w, needs_when=True) for w in data.workup.rules)
        considerations = tuple(
            self._rule(c, Stage.WORKUP, "consideration") for c in data.considerations
        )
        return Knowledge(
            id=data.id,
            version=data.version,
            label=f"{data.id} {data.version}",
            contract=self.contract,
            sources=dict(data.sources),
            evidence=self.evidence,
            dn4=self._dn4(data.dn4),
            signs=signs,
            neuropathy_evidence=self.rules.compile(
                {"fact": "neuropathy-evidence"}, Stage.ANSWERS, self.where("neuropathy evidence")
            ),
            patterns=patterns,
            pattern_order=tuple(self.contract.patterns),
            conditions=self._conditions(data.conditions),
            score_conditions=codegen.generate_scorer(tuple(self.weighted), "conditions"),
            alternatives=self._alternatives(data.alternative_causes),
            red_flags=red_flags,
            tiers=tiers,
            tier_text=dict(data.tiers.actions),
            short_labels={
                **{code: c.label for code, c in data.conditions.items()},
                **{flag.id: flag.label for flag in data.red_flags},
                **{cause.id: cause.label for cause in data.alternative_causes.causes},
            },
            emergency=emergency,
            baseline=baseline,
            workup=workup,
            workup_steps=_workup_steps((emergency, *flag_workup, baseline, *workup)),
            considerations=considerations,
            key_items=(key_items := tuple(self._key_item(k) for k in data.key_items)),
            key_item_ids=frozenset(i for rule in key_items for i in rule.items),
            signs_check=_stage(signs, "signs"),
            patterns_check=codegen.generate_stage(
                tuple(r.when.node for r in patterns), "patterns", tuple(r.pattern for r in patterns)
            ),
            red_flags_check=_stage(red_flags, "red_flags"),
            tiers_check=codegen.generate_stage(
                tuple(r.when.node for r in tiers),
                "tiers",
                ranks=tuple(TIER_RANK[r.tier] for r in tiers),
            ),
            workup_check=_stage(workup, "workup"),
            considerations_check=_stage(considerations, "considerations"),
        )

    # -- helpers -------------------------------------------------------------------------

    def where(self, what: str) -> str:
        return f"{self.origin}: {what}"

    def cite(self, keys: Iterable[str], what: str) -> str:
        """Resolve source keys to citation text, failing on an unknown key."""
        citations = []
        for key in keys:
            citation = self.data.sources.get(key)
            if citation is None:
                raise KnowledgeError(f"{self.where(what)}: unknown source {key!r}")
            citations.append(citation)
        return "; ".join(citations)

    def claim(self, rule_id: str) -> str:
        if rule_id in self.rule_ids:
            raise KnowledgeError(f"{self.origin}: rule id {rule_id!r} is used twice")
        self.rule_ids.add(rule_id)
        return rule_id

    def _check_wording(self) -> None:
        def walk(value: Any, path: str) -> None:
            if isinstance(value, str):
                lowered = value.lower()
                for phrase in FORBIDDEN_WORDING:
                    if phrase in lowered:
                        raise KnowledgeError(
                            f"{self.where(path)}: says {phrase!r}; the screen never classifies"
                        )
            elif isinstance(value, Mapping):
                for key, item in value.items():
                    walk(item, f"{path}.{key}")
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    walk(item, f"{path}[{index}]")

        walk(self.data.model_dump(exclude={"sources"}), "knowledge")

    def _items(self, link_ids: Iterable[str], what: str, kind: str | None = None) -> None:
        for link_id in link_ids:
            spec = self.contract.items.get(link_id)
            if spec is None:
                raise KnowledgeError(f"{self.where(what)}: {link_id!r} is not a contract linkId")
            if kind is not None and spec.kind != kind:
                raise KnowledgeError(f"{self.where(what)}: {link_id!r} is not a {kind} item")

    # -- sections ------------------------------------------------------------------------

    def _dn4(self, dn4: schema.Dn4Model) -> Dn4:
        self._items(dn4.items, "dn4", kind="boolean")
        self._items(dn4.pain_items, "dn4 pain items", kind="boolean")
        if len(set(dn4.items)) != len(dn4.items):
            raise KnowledgeError(self.where("dn4: an item is listed twice"))
        if not 1 <= dn4.cutoff <= len(dn4.items):
            raise KnowledgeError(self.where(f"dn4: cut-off {dn4.cutoff} is out of range"))
        return Dn4(
            items=tuple(dn4.items),
            cutoff=dn4.cutoff,
            source=self.cite(dn4.source, "dn4"),
            pairs=tuple((item, self.evidence.of(item, True)) for item in dn4.items),
            item_set=frozenset(dn4.items),
            pain_items=frozenset(dn4.pain_items),
        )

    def _rule(self, rule: schema.SignModel, stage: Stage, what: str) -> Rule:
        rule_id = self.claim(rule.id)
        where = f"{what} {rule_id}"
        when = self.rules.compile(rule.when, stage, self.where(where), rule_id)
        source = self.cite(rule.source, where)
        fixed = None if when.static is None else Finding(rule_id, rule.label, when.static, source)
        return Rule(id=rule_id, label=rule.label, when=when, source=source, fixed=fixed)

    def _pattern(self, rule: schema.PatternModel) -> PatternRule:
        rule_id = self.claim(rule.id)
        where = f"pattern rule {rule_id}"
        # A rule may give ``none`` explicitly (2.0.0: a distribution that is no peripheral
        # pattern, e.g. one side of the body); the engine drops it beside any other label.
        if rule.pattern not in self.contract.patterns:
            raise KnowledgeError(f"{self.where(where)}: {rule.pattern!r} cannot be derived")
        return PatternRule(
            id=rule_id,
            pattern=rule.pattern,
            rationale=rule.rationale,
            when=self.rules.compile(rule.when, Stage.PATTERNS, self.where(where), rule_id),
            source=self.cite(rule.source, where),
        )

    def _conditions(
        self, conditions: Mapping[str, schema.ScreenedConditionModel]
    ) -> tuple[ScreenedCondition, ...]:
        if set(conditions) != set(self.contract.conditions):
            raise KnowledgeError(
                self.where(f"conditions must be exactly {sorted(self.contract.conditions)}")
            )
        built = []
        for code, condition in conditions.items():
            where = f"condition {code}"
            if not 0 < condition.levels.moderate < condition.levels.high:
                raise KnowledgeError(f"{self.where(where)}: need 0 < moderate < high")
            if not any(p.kind in ("proxy", "known") and p.weight > 0 for p in condition.proxies):
                raise KnowledgeError(f"{self.where(where)}: no rule can raise this suspicion")
            proxies = [self._proxy(p, code) for p in condition.proxies]
            high_requires = condition.high_requires
            built.append(
                ScreenedCondition(
                    code=code,
                    label=condition.label,
                    high=condition.levels.high,
                    moderate=condition.levels.moderate,
                    proxies=tuple(proxy for proxy, _ in proxies),
                    independent_proxies=condition.independent_proxies,
                    groups={
                        p.id: p.group or p.id
                        for p in condition.proxies
                        if p.kind == "proxy" and p.weight > 0
                    },
                    high_requires=(
                        None
                        if high_requires is None
                        else self.rules.compile(
                            high_requires, Stage.SUSPICIONS, self.where(f"{where} high_requires")
                        )
                    ),
                )
            )
            self.weighted.append(tuple(w for _, w in proxies))
        return tuple(built)

    def _proxy(
        self, proxy: schema.ProxyModel, condition: str
    ) -> tuple[Proxy, codegen.WeightedRule]:
        rule_id = self.claim(proxy.id)
        where = f"condition {condition} rule {rule_id}"
        if proxy.weight == 0:
            raise KnowledgeError(f"{self.where(where)}: a weight of 0 does nothing")
        node = self.rules.validate(proxy.when, Stage.SUSPICIONS, self.where(where))
        source = self.cite(proxy.source, where)
        static = node.static
        fixed = (
            None
            if static is None
            else Contribution(rule_id, proxy.weight, static, source, proxy.label)
        )

        def contribution(evidence: Evidences) -> Contribution:
            return Contribution(rule_id, proxy.weight, evidence, source, proxy.label)

        built = Proxy(
            id=rule_id,
            kind=proxy.kind,
            weight=proxy.weight,
            label=proxy.label,
            when=self.rules.compile(proxy.when, Stage.SUSPICIONS, self.where(where), rule_id),
            source=source,
            fixed=fixed,
        )
        raises = proxy.kind != "supportive" and proxy.weight > 0
        known = proxy.kind == "known"
        return built, codegen.WeightedRule(node, proxy.weight, raises, known, contribution, fixed)

    def _alternatives(self, section: schema.AlternativesModel) -> Alternatives:
        causes = []
        for cause in section.causes:
            rule_id = self.claim(cause.id)
            where = f"alternative cause {rule_id}"
            self._items([cause.item], where, kind="boolean")
            derivable = set(self.contract.patterns) - {"none"}
            unknown = sorted(set(cause.explains) - derivable)
            if unknown or not cause.explains:
                raise KnowledgeError(f"{self.where(where)}: cannot explain patterns {unknown}")
            causes.append(
                AlternativeCause(
                    id=rule_id,
                    link_id=cause.item,
                    label=cause.label,
                    explains=frozenset(cause.explains),
                    source=self.cite(cause.source, where),
                    when=(
                        None
                        if cause.when is None
                        else self.rules.compile(
                            cause.when, Stage.ALTERNATIVES, self.where(where), rule_id
                        )
                    ),
                )
            )
        return Alternatives(
            causes=tuple(causes),
            blockers=tuple(self._rule(b, Stage.ALTERNATIVES, "blocker") for b in section.blockers),
            factor=section.factor,
            source=self.cite(section.source, "alternative causes"),
        )

    def _red_flag(self, flag: schema.RedFlagModel, emergency: WorkupRule) -> RedFlag:
        rule_id = self.claim(flag.id)
        where = f"red flag {rule_id}"
        source = self.cite(flag.source, where)
        workup = None
        if flag.workup:
            unknown = [c for c in flag.workup if c not in self.contract.workup]
            if unknown:
                raise KnowledgeError(f"{self.where(where)}: {unknown} are not workup codes")
            if tuple(flag.workup[: len(emergency.codes)]) != emergency.codes:
                raise KnowledgeError(
                    f"{self.where(where)}: its workup must start with {list(emergency.codes)}"
                )
            workup = WorkupRule(
                id=rule_id,
                codes=tuple(flag.workup),
                reason=emergency.reason,
                when=None,
                source=source,
                suggests={code: (rule_id,) for code in flag.workup},
            )
        return RedFlag(
            id=rule_id,
            label=flag.label,
            advice=flag.advice,
            emergency_only=flag.emergency_only,
            when=self.rules.compile(flag.when, Stage.RED_FLAGS, self.where(where), rule_id),
            source=source,
            workup=workup,
        )

    def _tiers(self, section: schema.TiersModel) -> tuple[TierRule, ...]:
        if set(section.actions) != set(TIER_RANK):
            raise KnowledgeError(self.where(f"tier actions must be exactly {sorted(TIER_RANK)}"))
        rules = []
        for rule in section.rules:
            rule_id = self.claim(rule.id)
            where = f"tier rule {rule_id}"
            if rule.tier not in TIER_RANK:
                raise KnowledgeError(f"{self.where(where)}: unknown tier {rule.tier!r}")
            rules.append(
                TierRule(
                    id=rule_id,
                    tier=rule.tier,
                    label=rule.label,
                    when=self.rules.compile(rule.when, Stage.TIERS, self.where(where), rule_id),
                    source=self.cite(rule.source, where),
                )
            )
        if not any(r.tier == "low" for r in rules):
            raise KnowledgeError(self.where("tiers: some rule must give 'low'"))
        # Highest tier first (stable within a tier), so the engine can stop early.
        return tuple(sorted(rules, key=lambda r: -TIER_RANK[r.tier]))

    def _workup(self, rule: schema.WorkupRuleModel, *, needs_when: bool) -> WorkupRule:
        rule_id = self.claim(rule.id)
        where = f"workup rule {rule_id}"
        unknown = [c for c in rule.codes if c not in self.contract.workup]
        if unknown or not rule.codes:
            raise KnowledgeError(f"{self.where(where)}: {unknown} are not workup codes")
        if needs_when != (rule.when is not None):
            raise KnowledgeError(
                f"{self.where(where)}: "
                + ("needs a 'when'" if needs_when else "is applied by the engine; drop 'when'")
            )
        return WorkupRule(
            id=rule_id,
            codes=tuple(rule.codes),
            reason=rule.reason,
            when=(
                self.rules.compile(rule.when, Stage.WORKUP, self.where(where), rule_id)
                if rule.when is not None
                else None
            ),
            source=self.cite(rule.source, where),
            suggests={code: (rule_id,) for code in rule.codes},
        )

    def _dn4_texts(
        self, rule: schema.KeyItemModel
    ) -> dict[tuple[int, int], dict[str, UnansweredItem]]:
        """Every wording a DN4-templated reason can take, built once."""
        dn4 = self.data.dn4
        size = len(dn4.items)
        texts = {}
        for score in range(size + 1):
            for unanswered in range(size + 1 - score):
                why = rule.why.format(
                    dn4_score=score, dn4_unanswered=unanswered, dn4_cutoff=dn4.cutoff
                )
                texts[score, unanswered] = {i: UnansweredItem(i, why) for i in rule.items}
        return texts

    def _key_item(self, rule: schema.KeyItemModel) -> KeyItemRule:
        rule_id = self.claim(rule.id)
        where = f"key item rule {rule_id}"
        self._items(rule.items, where)
        fields = {name for _, name, _, _ in string.Formatter().parse(rule.why) if name}
        if fields - KEY_ITEM_FIELDS:
            raise KnowledgeError(
                f"{self.where(where)}: unknown placeholders {sorted(fields - KEY_ITEM_FIELDS)}"
            )
        templated = bool(fields)
        return KeyItemRule(
            id=rule_id,
            items=tuple(rule.items),
            why=rule.why,
            item_set=frozenset(rule.items),
            templated=templated,
            prebuilt={} if templated else {i: UnansweredItem(i, rule.why) for i in rule.items},
            by_dn4=self._dn4_texts(rule) if templated else {},
            when=(
                self.rules.compile(rule.when, Stage.WORKUP, self.where(where), rule_id)
                if rule.when is not None
                else None
            ),
            source=self.cite(rule.source, where),
        )
