"""The knowledge base: cited, consistent with the contract, and loud when malformed."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fixtures.responses import make_response

from screening.engine import AnswerError, answers_from_questionnaire_response, evaluate
from screening.knowledge import Knowledge, KnowledgeError, load_knowledge, load_knowledge_file
from screening.knowledge.loader import KNOWLEDGE_DIR
from shared.fhir.codesystems import CODE_SYSTEMS
from shared.fhir.questionnaire import ANSWER_SYSTEM, CANONICAL, SCREENING_INDEX, VERSION
from shared.tiers import TIER_ORDER

KB_FILE = KNOWLEDGE_DIR / "v1.yaml"


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    """This module checks knowledge 1.0.0 against contract 1.0.0 (2.0.0 is the default)."""
    return load_knowledge("1.0.0")


SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "spec"
"""The project's shared spec, checked out beside the repository (skipped when absent)."""

PATTERNS = {
    c["code"] for c in CODE_SYSTEMS["neuropathy-pattern"]["concept"]
}  # the published CodeSystems, not copies
WORKUP = {c["code"] for c in CODE_SYSTEMS["workup"]["concept"]}
CONDITIONS = {"egpa", "polyarteritis-nodosa", "lupus", "sjogren", "rheumatoid-arthritis", "celiac"}
QUESTIONS = {link_id: item for link_id, item in SCREENING_INDEX.items() if item.answerable}
"""The Questionnaire's questions: the one definition of the items (no copy here)."""


def raw_knowledge() -> dict[str, Any]:
    return yaml.safe_load(KB_FILE.read_text("utf-8"))


# -- the contract ---------------------------------------------------------------------------


def test_contract_items_are_the_questionnaire_questions(knowledge: Knowledge):
    """The engine reads its items from the Questionnaire: same types, codes and wording."""
    items = knowledge.items
    assert set(items) == set(QUESTIONS)
    for link_id, question in QUESTIONS.items():
        spec = items[link_id]
        assert (spec.kind, spec.repeats, spec.required) == (
            question.type,
            question.repeats,
            question.required,
        )
        assert spec.codes == question.options
        assert spec.text == question.short_text
        assert dict(spec.code_text or {}) == dict(question.option_text)
    assert items["age"].required


def test_age_range_is_the_questionnaire_range(knowledge: Knowledge):
    """The intake and the engine accept the same ages (they once disagreed: 130 vs 150)."""
    age = SCREENING_INDEX["age"]
    assert knowledge.items["age"].numbers == range(age.min_value, age.max_value + 1)
    assert evaluate({"age": age.max_value}, knowledge).tier == "low"
    with pytest.raises(AnswerError, match="age"):
        evaluate({"age": age.max_value + 1}, knowledge)


def test_the_knowledge_file_carries_no_copy_of_the_items():
    data = raw_knowledge()
    assert data["questionnaire"] == ["1.0.0", "1.1.0"]
    assert "tiers" not in data["outputs"]


def test_output_codes_are_exactly_the_published_ones(knowledge: Knowledge):
    contract = knowledge.contract
    assert contract.canonical == CANONICAL
    assert contract.version == VERSION == "1.1.0"
    assert contract.cites(CANONICAL)
    assert contract.cites(f"{CANONICAL}|1.0.0")
    assert contract.cites(f"{CANONICAL}|1.1.0")
    assert not contract.cites(f"{CANONICAL}|2.0.0")
    assert contract.answer_system == ANSWER_SYSTEM
    assert contract.tiers == TIER_ORDER
    assert set(contract.patterns) == PATTERNS
    assert set(contract.conditions) == CONDITIONS
    assert set(contract.workup) <= WORKUP


def test_tiers_are_the_published_screening_tiers():
    assert {c["code"] for c in CODE_SYSTEMS["screening-tier"]["concept"]} == set(TIER_ORDER)
    assert TIER_ORDER == ("low", "moderate", "high", "urgent")


@pytest.mark.skipif(not SPEC_DIR.exists(), reason="the shared spec is not checked out here")
def test_contract_matches_the_markdown_contract(knowledge: Knowledge):
    text = (SPEC_DIR / "questionnaire-contract.md").read_text("utf-8")
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| ([a-z ,]+) \|", text, flags=re.MULTILINE)
    questions = {link_id for link_id, kind in rows if kind.split(",")[0] in
                 {"boolean", "integer", "choice"}}  # fmt: skip
    assert questions == set(knowledge.items)
    workup = {link_id for link_id, _ in re.findall(r"^\| `([a-z0-9-]+)` \| ([^|]+) \|$", text,
                                                    flags=re.MULTILINE)}  # fmt: skip
    assert set(knowledge.contract.workup) <= workup


# -- sources and codes ----------------------------------------------------------------------


def rules(data: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every mapping in the knowledge file that is a rule (has an id, or is a fact/dn4)."""
    if isinstance(data, dict):
        if "when" in data or ("id" in data and path != ""):
            yield path, data
        for key, value in data.items():
            if key in ("questionnaire", "outputs", "sources"):
                continue
            yield from rules(value, f"{path}.{key}" if path else key)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from rules(value, f"{path}[{index}]")


def test_every_rule_has_a_resolvable_source():
    data = raw_knowledge()
    sources = data["sources"]
    found = list(rules(data))
    assert len(found) > 100
    for path, rule in [*found, ("dn4", data["dn4"]), ("alternatives", data["alternative_causes"])]:
        keys = rule.get("source")
        assert keys, f"{path} has no source"
        for key in [keys] if isinstance(keys, str) else keys:
            assert key in sources, f"{path}: unknown source {key}"


@pytest.mark.skipif(not SPEC_DIR.exists(), reason="the shared spec is not checked out here")
def test_every_source_is_a_citation_of_the_clinical_basis():
    basis = (SPEC_DIR / "clinical-basis.md").read_text("utf-8")
    for key, citation in raw_knowledge()["sources"].items():
        author = citation.split(",")[0].split(" et al")[0]
        reference = re.search(r"\d{4}(;\d+:[\dA-Za-z-]+)?", citation)
        assert author in basis, key
        assert reference and reference.group(0).split(";")[0] in basis, key


def conditions_in(rule: Any) -> Iterator[dict[str, Any]]:
    if isinstance(rule, dict):
        yield rule
        for value in rule.values():
            yield from conditions_in(value)
    elif isinstance(rule, list):
        for value in rule:
            yield from conditions_in(value)


def test_every_code_used_exists_in_the_contract():
    data = raw_knowledge()
    choices = {link_id: set(item.options) for link_id, item in QUESTIONS.items()}
    for section in ("facts", "signs", "patterns", "conditions", "alternative_causes",
                    "red_flags", "tiers", "workup", "considerations", "key_items", "dn4"):  # fmt: skip
        for node in conditions_in(data[section]):
            if "item" in node:
                assert node["item"] in QUESTIONS, node
                for test in ("in", "includes", "only"):
                    if test in node:
                        assert set(node[test]) <= choices[node["item"]], node
            for key in ("any_yes", "any_answered", "items"):
                if key in node:
                    assert set(node[key]) <= set(QUESTIONS), node
            if "pattern" in node:
                assert node["pattern"] in PATTERNS, node
            if "explains" in node:
                assert set(node["explains"]) <= PATTERNS, node
            if "codes" in node and section == "workup":
                assert set(node["codes"]) <= WORKUP, node
            for key in ("suspicion", "leading_suspicion"):
                if key in node:
                    named = node[key] if isinstance(node[key], list) else [node[key]]
                    assert set(named) <= CONDITIONS | {"any"}, node
            if "tier" in node and isinstance(node["tier"], str):
                assert node["tier"] in TIER_ORDER, node
    assert set(data["conditions"]) == CONDITIONS


def test_no_wording_claims_a_classification():
    text = KB_FILE.read_text("utf-8").lower()
    body = text.split("\nid: neuroscreen-kb", 1)[1]  # the header comment names the rule
    for phrase in ("classified as", "classifies as", "meets criteria", "meets the criteria"):
        assert phrase not in body


def test_egpa_weights_follow_the_criteria(knowledge: Knowledge):
    """Eosinophilia > asthma = polyps > neuropathy (Grayson 2022)."""
    egpa = next(c for c in knowledge.conditions if c.code == "egpa")
    weight = {p.id: p.weight for p in egpa.proxies}
    assert weight["egpa-eosinophilia"] > weight["egpa-asthma"] == weight["egpa-nasal-polyps"]
    assert weight["egpa-nasal-polyps"] > weight["egpa-neuropathy"] > 0
    assert weight["egpa-haematuria"] < 0


# -- loading --------------------------------------------------------------------------------


def test_load_knowledge_is_cached_per_version(knowledge: Knowledge):
    assert load_knowledge("1.0.0") is knowledge
    assert knowledge.version == "1.0.0"
    assert knowledge.label == "neuroscreen-kb 1.0.0"


def test_unknown_version_fails_loudly():
    with pytest.raises(KnowledgeError, match="unknown knowledge version"):
        load_knowledge("9.9.9")


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "v1.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    return path


def first(data: dict[str, Any], section: str) -> dict[str, Any]:
    return data[section][0]


def egpa(data: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return data["conditions"]["egpa"]["proxies"][index]


Mutation = Callable[[dict[str, Any]], None]
MUTATIONS: dict[str, tuple[Mutation, str]] = {
    "unknown linkId": (
        lambda d: egpa(d).update(when={"item": "eosinophils", "is": True}),
        "egpa-eosinophilia.*'eosinophils' is not a linkId",
    ),
    "unknown answer code": (
        lambda d: first(d, "patterns").update(when={"item": "spread-pattern", "in": ["patchy"]}),
        "pattern-spread-separate-nerves.*not answer codes",
    ),
    "test that does not fit the item type": (
        lambda d: egpa(d).update(when={"item": "high-eosinophils", "in": ["yes"]}),
        "does not fit boolean item",
    ),
    "unknown pattern": (
        lambda d: first(d, "patterns").update(pattern="polyradiculopathy"),
        "cannot be derived",
    ),
    "unknown workup code": (
        lambda d: d["workup"]["rules"][0]["codes"].append("cryoglobulins"),
        "not workup codes",
    ),
    "missing source": (lambda d: egpa(d).pop("source"), "source"),
    "empty source": (lambda d: egpa(d).update(source=[]), "at least one source"),
    "unknown source key": (
        lambda d: egpa(d).update(source="wikipedia"),
        "unknown source 'wikipedia'",
    ),
    "misspelt key": (lambda d: egpa(d).update(wieght=5), "wieght"),
    "weight that is not a number": (lambda d: egpa(d).update(weight="high"), "weight"),
    "rule looks at a later stage": (
        lambda d: first(d, "red_flags").update(when={"tier_at_least": "high"}),
        "rf-gbs.*cannot look at the tier",
    ),
    "duplicate rule id": (lambda d: egpa(d, 1).update(id="egpa-eosinophilia"), "used twice"),
    "classification wording": (
        lambda d: egpa(d).update(label="meets criteria for EGPA"),
        "never classifies",
    ),
    "fact used before it is defined": (
        lambda d: d["facts"]["neuropathy-symptom"].update(when={"fact": "immune-clues"}),
        "not defined",
    ),
    "inverted levels": (
        lambda d: d["conditions"]["egpa"]["levels"].update(high=2, moderate=5),
        "moderate < high",
    ),
    "missing condition": (lambda d: d["conditions"].pop("celiac"), "conditions must be exactly"),
    "unknown condition form": (
        lambda d: egpa(d).update(when={"answer": "high-eosinophils"}),
        "unknown condition form",
    ),
    "unknown placeholder": (
        lambda d: first(d, "key_items").update(why="age {age}"),
        "unknown placeholders",
    ),
    "bad version": (lambda d: d.update(version="one"), "version"),
    "written for another Questionnaire": (
        lambda d: d.update(questionnaire=["2.0.0"]),
        "written for Questionnaire 2.0.0, but the published Questionnaire is 1.1.0",
    ),
    "a copy of the items": (
        lambda d: d.update(questionnaire={"version": "1.1.0", "items": {}}),
        "questionnaire",
    ),
    "unknown tier action": (
        lambda d: d["tiers"]["actions"].update(critical="call now"),
        "tier actions must be exactly",
    ),
    "dn4 cut-off out of range": (lambda d: d["dn4"].update(cutoff=9), "out of range"),
}


@pytest.mark.parametrize("mutation", MUTATIONS, ids=list(MUTATIONS))
def test_bad_knowledge_fails_loudly(mutation: str, tmp_path: Path):
    mutate, message = MUTATIONS[mutation]
    data = copy.deepcopy(raw_knowledge())
    mutate(data)
    with pytest.raises(KnowledgeError, match=re.compile(message, re.DOTALL)):
        load_knowledge_file(write(tmp_path, data))


def test_malformed_yaml_fails_loudly(tmp_path: Path):
    path = tmp_path / "v1.yaml"
    path.write_text("id: neuroscreen-kb\nversion: [1.0.0\n", "utf-8")
    with pytest.raises(KnowledgeError, match="cannot read knowledge file"):
        load_knowledge_file(path)


def test_an_unchanged_copy_loads(tmp_path: Path):
    assert load_knowledge_file(write(tmp_path, raw_knowledge())).version == "1.0.0"


def test_a_weight_changes_results_without_code_changes(tmp_path: Path, knowledge: Knowledge):
    answers = {"age": 45, "numbness": True, "high-eosinophils": True}
    before = evaluate(answers, knowledge)
    assert before.suspicions[0].condition == "egpa"
    assert before.suspicions[0].level == "moderate"
    data = raw_knowledge()
    egpa(data)["weight"] = 1
    after = evaluate(answers, load_knowledge_file(write(tmp_path, data)))
    assert after.suspicions[0].level == "low"


def test_every_condition_form_loads_and_explains(tmp_path: Path):
    """Forms v1 does not use yet (age bounds, ``is: false``) work when a version needs them."""
    data = raw_knowledge()
    data["conditions"]["egpa"]["proxies"].append(
        {
            "id": "egpa-age-band",
            "kind": "supportive",
            "weight": 0.5,
            "label": "age 40 to 69 (mean onset about 50)",
            "when": {"all": [{"item": "age", "at_least": 40}, {"item": "age", "below": 70}]},
            "source": "comarmond-2013",
        }
    )
    data["conditions"]["egpa"]["proxies"].append(
        {
            "id": "egpa-not-numb",
            "kind": "supportive",
            "weight": 0.5,
            "label": "numbness answered no",
            "when": {"item": "numbness", "is": False},
            "source": "grayson-2022",
        }
    )
    knowledge = load_knowledge_file(write(tmp_path, data))
    result = evaluate({"age": 52, "numbness": False, "high-eosinophils": True}, knowledge)
    contributions = {c.rule_id: c for c in result.suspicions[0].contributions}
    assert [e.text for e in contributions["egpa-age-band"].evidence] == ["age: 52"]
    assert [e.text for e in contributions["egpa-not-numb"].evidence] == ["numbness: no"]
    assert result.suspicions[0].score == 6.0
    older = evaluate({"age": 75, "high-eosinophils": True}, knowledge)
    assert "egpa-age-band" not in {c.rule_id for c in older.suspicions[0].contributions}


@pytest.mark.parametrize("version", ["", "|1.0.0", "|1.1.0"])
def test_the_engine_reads_1_1_answers_whatever_version_is_cited(version: str):
    """As the intake does: a response citing 1.0.0 keeps its answers to 1.1.0 items."""
    resource = make_response(
        {"age": 70, "bladder-bowel": True, "onset-speed": "days"},
        questionnaire=CANONICAL + version,
    )
    answers = answers_from_questionnaire_response(resource)
    assert answers == {"age": 70, "bladder-bowel": True, "onset-speed": "days"}


def with_2_0_capabilities(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of 1.0.0 using the fields knowledge 2.0.0 needs (all optional, inert in 1.0.0)."""
    data["dn4"]["pain_items"] = ["pain", "burning"]
    egpa = data["conditions"]["egpa"]
    egpa["independent_proxies"] = 2
    egpa["high_requires"] = {"item": "high-eosinophils", "is": True}
    egpa["proxies"][1]["group"] = "airway"
    egpa["proxies"][2]["group"] = "airway"
    data["alternative_causes"]["causes"][0]["when"] = {"item": "duration", "answered": True}
    flag = data["red_flags"][0]
    flag["workup"] = [*data["workup"]["emergency"]["codes"], "mri"]
    return data


def test_the_fields_knowledge_2_uses_load_and_are_checked(tmp_path: Path):
    knowledge = load_knowledge_file(write(tmp_path, with_2_0_capabilities(raw_knowledge())))
    assert knowledge.dn4.pain_items == ("pain", "burning")
    egpa = next(c for c in knowledge.conditions if c.code == "egpa")
    assert egpa.independent_proxies == 2
    assert egpa.high_requires is not None
    assert egpa.groups["egpa-asthma"] == egpa.groups["egpa-nasal-polyps"] == "airway"
    assert egpa.groups["egpa-eosinophilia"] == "egpa-eosinophilia"
    assert knowledge.alternatives.causes[0].when is not None
    steps = knowledge.red_flags[0].steps
    assert steps.codes[-1] == "mri"
    assert steps.id == knowledge.red_flags[0].id
    assert knowledge.workup_steps["mri", (steps.id,)].reasons == ("red-flag",)


BAD_2_0: dict[str, tuple[Mutation, str]] = {
    "flag work-up without emergency assessment first": (
        lambda d: d["red_flags"][0].update(workup=["mri"]),
        "must start with",
    ),
    "flag work-up code unknown": (
        lambda d: d["red_flags"][0].update(workup=["emergency-assessment", "x-ray"]),
        "not workup codes",
    ),
    "high_requires looking at the tier": (
        lambda d: d["conditions"]["egpa"].update(high_requires={"tier_at_least": "high"}),
        "egpa high_requires: a suspicions rule cannot look at the tier",
    ),
    "cause condition looking at suspicions": (
        lambda d: d["alternative_causes"]["causes"][0].update(when={"suspicion": "any"}),
        "cannot look at the suspicion",
    ),
    "pain item that is not a boolean": (
        lambda d: d["dn4"].update(pain_items=["age"]),
        "not a boolean question",
    ),
    "no independent proxy at all": (
        lambda d: d["conditions"]["egpa"].update(independent_proxies=0),
        "independent_proxies",
    ),
}


@pytest.mark.parametrize("mutation", BAD_2_0, ids=list(BAD_2_0))
def test_bad_2_0_fields_fail_loudly(mutation: str, tmp_path: Path):
    mutate, message = BAD_2_0[mutation]
    data = with_2_0_capabilities(raw_knowledge())
    mutate(data)
    with pytest.raises(KnowledgeError, match=re.compile(message, re.DOTALL)):
        load_knowledge_file(write(tmp_path, data))


def test_a_pattern_rule_may_give_none(tmp_path: Path):
    data = raw_knowledge()
    data["patterns"][0]["pattern"] = "none"
    assert load_knowledge_file(write(tmp_path, data)).patterns[0].pattern == "none"
