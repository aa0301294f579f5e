"""The knowledge base: cited, consistent with the contract, and loud when malformed."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from screening.engine import evaluate
from screening.knowledge import Knowledge, KnowledgeError, load_knowledge, load_knowledge_file
from screening.knowledge.loader import KNOWLEDGE_DIR

KB_FILE = KNOWLEDGE_DIR / "v1.yaml"


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    """This module checks knowledge 1.0.0 against contract 1.0.0 (2.0.0 is the default)."""
    return load_knowledge("1.0.0")


SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "spec"
"""The project's shared spec, checked out beside the repository (skipped when absent)."""

# The questionnaire contract v1, transcribed from questionnaire-contract.md.
BOOLEAN_ITEMS = [
    "burning",
    "painful-cold",
    "electric-shocks",
    "tingling",
    "pins-needles",
    "numbness",
    "itching",
    "weakness",
    "balance",
    "touch-sensitivity",
    "face-weakness",
    "double-vision",
    "vision-loss",
    "foot-wrist-drop",
    "rapid-ascending-weakness",
    "recent-infection",
    "breathing-swallowing",
    "adult-onset-asthma",
    "nasal-polyps",
    "chronic-sinusitis",
    "high-eosinophils",
    "joint-swelling",
    "morning-stiffness",
    "facial-rash",
    "mouth-ulcers",
    "dry-eyes-mouth",
    "raynaud",
    "weight-loss",
    "fever-sweats",
    "skin-lesions",
    "abdominal-pain-meals",
    "new-hypertension",
    "gut-symptoms",
    "iron-deficiency",
    "muscle-pain",
    "testicular-pain",
    "blood-protein-urine",
    "hepatitis-b",
    "hepatitis-c",
    "family-autoimmune",
    "diabetes",
    "alcohol",
    "chemotherapy",
    "b12-deficiency",
    "hypothyroidism",
    "nerve-injury",
]
CHOICE_ITEMS = {
    "regions": (True, "left-hand right-hand left-arm right-arm left-foot right-foot left-leg "
                      "right-leg face trunk"),
    "spread-pattern": (False, "both-sides-from-feet started-hands-face-trunk separate-nerves "
                              "one-area unsure"),
    "duration": (False, "under-4-weeks 4-to-8-weeks 2-to-12-months over-1-year"),
    "progression": (False, "worse-over-days worse-over-weeks stable improving"),
    "sex": (False, "female male other"),
    "known-conditions": (True, "rheumatoid-arthritis lupus sjogren egpa polyarteritis-nodosa "
                               "celiac other-vasculitis none"),
}  # fmt: skip
TIERS = {"urgent", "high", "moderate", "low"}
PATTERNS = {"mononeuritis-multiplex", "symmetric-polyneuropathy", "non-length-dependent",
            "cranial-neuropathy", "single-nerve", "none"}  # fmt: skip
CONDITIONS = {"egpa", "polyarteritis-nodosa", "lupus", "sjogren", "rheumatoid-arthritis", "celiac"}
WORKUP = frozenset(
    [
        "cbc-differential",
        "esr",
        "crp",
        "metabolic-panel",
        "hba1c",
        "vitamin-b12",
        "tsh",
        "spep",
        "urinalysis",
        "ana",
        "anti-dsdna",
        "complement",
        "anca",
        "ige",
        "anti-ssa-ssb",
        "rheumatoid-factor",
        "anti-ccp",
        "celiac-serology",
        "hepatitis-serology",
        "ncs-emg",
        "mri",
        "ct",
        "chest-imaging",
        "nerve-biopsy",
        "skin-biopsy",
        "neurology-referral",
        "rheumatology-referral",
        "gastroenterology-referral",
        "emergency-assessment",
    ]
)


def raw_knowledge() -> dict[str, Any]:
    return yaml.safe_load(KB_FILE.read_text("utf-8"))


# -- the contract ---------------------------------------------------------------------------


def test_contract_items_are_exactly_the_published_ones(knowledge: Knowledge):
    items = knowledge.items
    assert set(items) == set(BOOLEAN_ITEMS) | set(CHOICE_ITEMS) | {"age"}
    for link_id in BOOLEAN_ITEMS:
        assert items[link_id].kind == "boolean"
    assert items["age"].kind == "integer"
    assert items["age"].required
    for link_id, (repeats, codes) in CHOICE_ITEMS.items():
        assert items[link_id].kind == "choice"
        assert items[link_id].repeats is repeats
        assert items[link_id].codes == tuple(codes.split())


def test_output_codes_are_exactly_the_published_ones(knowledge: Knowledge):
    contract = knowledge.contract
    assert contract.canonical == (
        "http://neuroscreen.org/fhir/Questionnaire/immune-neuropathy-screen"
    )
    assert contract.version == "1.0.0"
    assert contract.answer_system == "http://neuroscreen.org/fhir/CodeSystem/screen-answers"
    assert set(contract.tiers) == TIERS
    assert set(contract.patterns) == PATTERNS
    assert set(contract.conditions) == CONDITIONS
    assert set(contract.workup) == WORKUP


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
        if "id" in data and "source" not in data and path.startswith("questionnaire"):
            return
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
    choices = {k: set(v[1].split()) for k, v in CHOICE_ITEMS.items()}
    items = set(BOOLEAN_ITEMS) | set(choices) | {"age"}
    for section in ("facts", "signs", "patterns", "conditions", "alternative_causes",
                    "red_flags", "tiers", "workup", "considerations", "key_items", "dn4"):  # fmt: skip
        for node in conditions_in(data[section]):
            if "item" in node:
                assert node["item"] in items, node
                for test in ("in", "includes", "only"):
                    if test in node:
                        assert set(node[test]) <= choices[node["item"]], node
            for key in ("any_yes", "any_answered", "items"):
                if key in node:
                    assert set(node[key]) <= items, node
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
                assert node["tier"] in TIERS, node
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


INTAKE_QUESTIONNAIRE = (
    Path(__file__).resolve().parents[2]
    / "services/intake/intake/questionnaire/immune-neuropathy-screen.json"
)


@pytest.mark.skipif(not INTAKE_QUESTIONNAIRE.exists(), reason="no published Questionnaire")
def test_contract_matches_the_published_questionnaire(knowledge: Knowledge):
    """The Questionnaire the intake serves and the engine's contract copy agree."""
    import json

    questionnaire = json.loads(INTAKE_QUESTIONNAIRE.read_text("utf-8"))
    assert questionnaire["url"] == knowledge.contract.canonical
    assert questionnaire["version"] == knowledge.contract.version
    kinds = {"boolean": "boolean", "integer": "integer", "choice": "choice", "coding": "choice"}
    found = {}
    stack = list(questionnaire["item"])
    while stack:
        item = stack.pop()
        stack.extend(item.get("item", []))
        if item["type"] in kinds:
            codes = tuple(o["valueCoding"]["code"] for o in item.get("answerOption", []))
            found[item["linkId"]] = (kinds[item["type"]], bool(item.get("repeats")), codes)
    expected = {
        link_id: (spec.kind, spec.repeats, spec.codes) for link_id, spec in knowledge.items.items()
    }
    assert found == expected


def test_every_condition_form_compiles_and_explains(tmp_path: Path):
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
