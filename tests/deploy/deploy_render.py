"""Readers shared by the deployment tests: kustomize rendering, compose
interpolation, Dockerfile stages, .dockerignore matching and PromQL metric names.

``kubectl kustomize`` is not something every machine has, so the manifests are
rendered here with the few kustomize features the repository uses (resources,
namespace, images, replicas, JSON 6902 patches, a file-based configMapGenerator
without hash suffixes). Anything else in a kustomization.yaml fails loudly
rather than rendering wrongly; where kubectl exists, a test compares the two.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]

# --- kustomize -----------------------------------------------------------------

SUPPORTED_KUSTOMIZE_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "images",
    "replicas",
    "patches",
    "configMapGenerator",
    "generatorOptions",
}
REPLICATED_KINDS = {"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"}
CLUSTER_SCOPED_KINDS = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
}


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization(directory: Path) -> dict[str, Any]:
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


def render_kustomization(directory: Path) -> list[dict[str, Any]]:
    """The documents ``kubectl kustomize directory`` would print (in file order)."""
    spec = kustomization(directory)
    unsupported = set(spec) - SUPPORTED_KUSTOMIZE_KEYS
    if unsupported:
        raise NotImplementedError(f"{directory}: renderer lacks {sorted(unsupported)}")
    documents: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            documents.extend(render_kustomization(path))
        else:
            documents.extend(load_yaml_documents(path))
    documents.extend(_generate_config_maps(directory, spec))
    for patch in spec.get("patches", []):
        _apply_patch(documents, patch)
    if "namespace" in spec:
        for doc in documents:
            if doc["kind"] not in CLUSTER_SCOPED_KINDS:
                doc.setdefault("metadata", {})["namespace"] = spec["namespace"]
    for image in spec.get("images", []):
        for doc in documents:
            _set_images(doc, image)
    for replicas in spec.get("replicas", []):
        matched = [
            d
            for d in documents
            if d["kind"] in REPLICATED_KINDS and d["metadata"]["name"] == replicas["name"]
        ]
        if not matched:
            raise LookupError(f"replicas: nothing named {replicas['name']}")
        for doc in matched:
            doc["spec"]["replicas"] = replicas["count"]
    return documents


def _generate_config_maps(directory: Path, spec: dict[str, Any]) -> list[dict[str, Any]]:
    options = spec.get("generatorOptions", {})
    generated = []
    for generator in spec.get("configMapGenerator", []):
        if not options.get("disableNameSuffixHash") or set(generator) - {"name", "files"}:
            raise NotImplementedError("only file-based generators without a hash suffix")
        data = {}
        for entry in generator["files"]:
            key, _, source = entry.rpartition("=") if "=" in entry else (None, "", entry)
            data[key or Path(source).name] = (directory / source).read_text()
        metadata: dict[str, Any] = {"name": generator["name"]}
        if options.get("labels"):
            metadata["labels"] = dict(options["labels"])
        generated.append(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}
        )
    return generated


def _apply_patch(documents: list[dict[str, Any]], patch: dict[str, Any]) -> None:
    target = patch["target"]
    if set(target) - {"kind", "name"} or "path" in patch:
        raise NotImplementedError("patches: only inline JSON 6902 patches targeted by kind/name")
    operations = yaml.safe_load(patch["patch"])
    matched = [
        d
        for d in documents
        if d["kind"] == target["kind"] and d["metadata"]["name"] == target["name"]
    ]
    if len(matched) != 1:
        raise LookupError(f"patch target {target} matched {len(matched)} resources")
    for operation in operations:
        _json_patch(matched[0], operation)


def _json_patch(document: dict[str, Any], operation: dict[str, Any]) -> None:
    """RFC 6902 add/replace/remove (all the overlays use)."""
    *parents, last = [
        part.replace("~1", "/").replace("~0", "~") for part in operation["path"].split("/")[1:]
    ]
    node: Any = document
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    op = operation["op"]
    if isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        if op == "add":
            node.insert(index, copy.deepcopy(operation["value"]))
        elif op == "replace":
            node[index] = copy.deepcopy(operation["value"])
        elif op == "remove":
            del node[index]
        else:
            raise NotImplementedError(op)
        return
    if op in {"replace", "remove"} and last not in node:
        raise KeyError(f"{operation['path']} does not exist ({op})")
    if op in {"add", "replace"}:
        node[last] = copy.deepcopy(operation["value"])
    elif op == "remove":
        del node[last]
    else:
        raise NotImplementedError(op)


def _set_images(node: Any, image: dict[str, str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"containers", "initContainers"} and isinstance(value, list):
                for container in value:
                    container["image"] = _new_image(container["image"], image)
            else:
                _set_images(value, image)
    elif isinstance(node, list):
        for item in node:
            _set_images(item, image)


def _new_image(reference: str, image: dict[str, str]) -> str:
    name, tag = split_image(reference)
    if name != image["name"]:
        return reference
    return f"{image.get('newName', name)}:{image.get('newTag', tag)}"


def split_image(reference: str) -> tuple[str, str]:
    """``registry/name:tag`` -> (``registry/name``, ``tag``); a port is not a tag."""
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        return reference, "latest"
    return name, tag


def pod_specs(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Workload name -> pod spec, for Deployments, StatefulSets and Jobs."""
    return {
        doc["metadata"]["name"]: doc["spec"]["template"]["spec"]
        for doc in documents
        if doc["kind"] in {"Deployment", "StatefulSet", "Job"}
    }


def by_kind(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


# --- settings ------------------------------------------------------------------------


def settings_env_names() -> dict[str, str]:
    """Environment variable -> Settings field, the way pydantic-settings reads them."""
    from shared.config import Settings  # the tests' conftest puts the repository on sys.path

    prefix = Settings.model_config["env_prefix"]
    return {f"{prefix}{name}".upper(): name for name in Settings.model_fields}


# --- docker compose --------------------------------------------------------------

_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\})"
)


class MissingVariable(ValueError):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose-style ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``, ``$$``."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"]
        current = env.get(name)
        unset = current is None or (current == "" and op is not None and op.startswith(":"))
        if op in {":?", "?"} and unset:
            raise MissingVariable(f"{name}: {arg}")
        if op in {":-", "-"} and unset:
            return arg
        if op in {":+", "+"}:
            return "" if unset else arg
        return current or ""

    return _INTERPOLATION.sub(substitute, value)


def compose_variables(text: str) -> dict[str, tuple[str | None, str | None]]:
    """Every ``${VAR...}`` in a compose file: name -> (operator, argument)."""
    found = {}
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for match in _INTERPOLATION.finditer(code):
        if match["name"]:
            found[match["name"]] = (match["op"], match["arg"])
    return found


def env_file_values(path: Path) -> dict[str, str]:
    """Active ``KEY=value`` lines of an env file (comments ignored)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def env_file_documented(path: Path) -> set[str]:
    """Variables an env file documents, set or commented out (``# KEY=...``)."""
    pattern = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
    return set(pattern.findall(path.read_text()))


# --- Dockerfile ------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]


def dockerfile_stages(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages) with continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", rest, re.IGNORECASE)
            assert match, line
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m[1], m[0]), match[1])
            stages.append(Stage(name=match[2] or str(len(stages)), base=base))
        elif not stages and keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


# --- .dockerignore -----------------------------------------------------------------


def dockerignore_rules(path: Path) -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line[1:] if negated else line
        pattern = pattern.strip("/")
        rules.append((negated, re.compile(_glob_to_regex(pattern))))
    return rules


def _glob_to_regex(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return out


def dockerignore_excludes(rules: list[tuple[bool, re.Pattern[str]]], relative: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negated, regex in rules:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


# --- PromQL ------------------------------------------------------------------------

_PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def promql_metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (functions, keywords, labels removed)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", text):
        name, call = match[1], match[2]
        if call or name in _PROMQL_KEYWORDS or re.fullmatch(r"\d.*|e\d+|inf|nan", name):
            continue
        names.add(name)
    return names
