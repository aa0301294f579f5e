"""Kubernetes manifests: rendered like kustomize, validated against the API schemas.

kubernetes-validate knows the built-in kinds only; the custom resources
(KEDA ScaledObject, Prometheus Operator PrometheusRule and ServiceMonitor) are
checked structurally here instead, against what the app expects of them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from deploy_render import (
    ROOT,
    by_kind,
    load_yaml_documents,
    pod_specs,
    render_kustomization,
    settings_env_names,
    split_image,
)
from kubernetes_validate.utils import SchemaNotFoundError

from shared.config import Settings

KUBERNETES = ROOT / "deploy/kubernetes"
BASE = KUBERNETES / "base"
OVERLAY = KUBERNETES / "overlays/example"
MONITORING = ROOT / "deploy/monitoring"
RENDERED = {"base": BASE, "overlay": OVERLAY, "monitoring": MONITORING}

# Custom resources: not in kubernetes-validate's schemas (checked below instead).
CUSTOM_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
}
# The oldest Kubernetes we claim to support (deploy/README.md) and the newest
# kubernetes-validate knows.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.utils.latest_version()]
APPS = {"intake", "relay", "screening", "notify", "notify-api"}
WORKERS = {"screening", "notify"}
HTTP_APPS = {"intake": 8000, "notify-api": 8001}
COMMANDS = {
    "intake": ["neuroscreen-intake"],
    "relay": ["neuroscreen-relay"],
    "notify-api": ["neuroscreen-notify-api"],
    **{
        worker: ["celery", "-A", f"{worker}.worker", "worker", "-Q", queues, "--loglevel", "INFO"]
        # The screening worker takes re-screening and backlog jobs when no live one waits.
        for worker, queues in (("screening", "screening,screening-bulk"), ("notify", "notify"))
    },
}


@pytest.fixture(scope="module")
def overlay() -> list[dict[str, Any]]:
    return render_kustomization(OVERLAY)


@pytest.fixture(scope="module")
def overlay_namespace() -> str:
    return yaml.safe_load((OVERLAY / "kustomization.yaml").read_text())["namespace"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def main_container(spec: dict[str, Any]) -> dict[str, Any]:
    (container,) = spec["containers"]
    return container


def env_names(container: dict[str, Any]) -> set[str]:
    return {item["name"] for item in container.get("env", [])}


def secret_refs(container: dict[str, Any]) -> set[tuple[str, str | None]]:
    """(secret, key) pairs a container reads; key None for a whole-Secret envFrom."""
    refs: set[tuple[str, str | None]] = set()
    for item in container.get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            refs.add((ref["name"], ref["key"]))
    for source in container.get("envFrom", []):
        if "secretRef" in source:
            refs.add((source["secretRef"]["name"], None))
    return refs


def volume_secrets(spec: dict[str, Any]) -> set[tuple[str, str | None, bool]]:
    """(secret, key, optional) a pod mounts; key None when the whole Secret is mounted."""
    mounted: set[tuple[str, str | None, bool]] = set()
    sources = []
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            sources.append((volume["secret"]["secretName"], volume["secret"]))
        for projected in volume.get("projected", {}).get("sources", []):
            if "secret" in projected:
                sources.append((projected["secret"]["name"], projected["secret"]))
    for name, source in sources:
        optional = bool(source.get("optional", False))
        keys = [item["key"] for item in source.get("items", [])] or [None]
        mounted |= {(name, key, optional) for key in keys}
    return mounted


def required_secrets(spec: dict[str, Any]) -> set[str]:
    """Secrets without which the pod cannot start (not marked optional)."""
    names = {name for name, _, optional in volume_secrets(spec) if not optional}
    for container in containers(spec):
        for item in container.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref and not ref.get("optional", False):
                names.add(ref["name"])
        for source in container.get("envFrom", []):
            ref = source.get("secretRef")
            if ref and not ref.get("optional", False):
                names.add(ref["name"])
    return names


def created_secrets(text: str) -> set[str]:
    return set(re.findall(r"create secret generic ([\w.-]+)", text))


# --- rendering and schema validation ------------------------------------------------


@pytest.mark.parametrize("name", sorted(RENDERED))
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_manifests_pass_kubernetes_validate(name: str, version: str) -> None:
    documents = render_kustomization(RENDERED[name])
    assert documents
    validated = 0
    for doc in documents:
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            continue  # custom resources: test_scaled_objects / test_monitoring.py
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = "/".join(map(str, error.path))
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} {path}: {error.message}")
        except SchemaNotFoundError as error:
            pytest.fail(error.message)
        validated += 1
    assert validated


def test_no_unknown_custom_resources(overlay: list[dict[str, Any]]) -> None:
    for doc in [*overlay, *render_kustomization(MONITORING)]:
        api_group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
        if "." in api_group and not api_group.endswith("k8s.io"):
            assert (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS, doc["kind"]


def _kustomize_available() -> bool:
    if shutil.which("kubectl") is None:
        return False
    probe = subprocess.run(
        ["kubectl", "kustomize", "--help"], capture_output=True, timeout=60, check=False
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _kustomize_available(), reason="kubectl kustomize is not installed")
@pytest.mark.parametrize("name", sorted(RENDERED))
def test_renderer_agrees_with_kubectl_kustomize(name: str) -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(RENDERED[name])],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    def keyed(documents: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
        return {
            (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
            for d in documents
        }

    ours = keyed(render_kustomization(RENDERED[name]))
    theirs = keyed([d for d in yaml.safe_load_all(result.stdout) if d])
    assert sorted(ours) == sorted(theirs)
    for key, document in theirs.items():
        assert ours[key] == document, key


# Settings kept beside the signing key (the notify API needs them and no other EHR
# setting): how to read the key, not a credential.
NOT_SECRET_EXAMPLE_VALUES = {
    "NEUROSCREEN_EHR_AUTH": "private-key-jwt",
    "NEUROSCREEN_EHR_PRIVATE_KEY_FILE": "/etc/neuroscreen/ehr-key/private-key.pem",
    "NEUROSCREEN_EHR_KEY_ID": "",
    "NEUROSCREEN_EHR_PUBLIC_KEYS_FILE": "/etc/neuroscreen/ehr-public-keys/public-keys.pem",
}


def test_secret_example_is_never_applied() -> None:
    for path in KUBERNETES.rglob("kustomization.yaml"):
        assert "secrets.example.yaml" not in yaml.safe_load(path.read_text()).get(
            "resources", []
        ), path
    for doc in load_yaml_documents(BASE / "secrets.example.yaml"):
        assert doc["kind"] == "Secret"
        for key, value in doc["stringData"].items():
            if key in NOT_SECRET_EXAMPLE_VALUES:
                assert value == NOT_SECRET_EXAMPLE_VALUES[key], key
                continue
            assert "REPLACE-ME" in value or "example.org" in value, (doc["metadata"]["name"], key)


# --- workloads -----------------------------------------------------------------------


def test_workloads_run_the_project_commands(overlay: list[dict[str, Any]]) -> None:
    specs = pod_specs(overlay)
    for name, command in COMMANDS.items():
        spec = specs[name]
        assert main_container(spec)["command"] == command, name
        # Migrations: an init container per pod, concurrency-safe (advisory lock).
        (init,) = spec["initContainers"]
        assert init["command"] == ["neuroscreen-migrate"], name


def test_images_are_pinned_and_overridden_by_the_overlay(overlay: list[dict[str, Any]]) -> None:
    overlay_images = {
        image["name"]
        for image in yaml.safe_load((OVERLAY / "kustomization.yaml").read_text())["images"]
    }
    base_images = {
        split_image(c["image"])[0]
        for spec in pod_specs(render_kustomization(BASE)).values()
        for c in containers(spec)
    }
    assert base_images == overlay_images
    for spec in pod_specs(overlay).values():
        for container in containers(spec):
            name, tag = split_image(container["image"])
            assert tag != "latest" and re.search(r"\d", tag), container["image"]
            if name.split("/")[-1] in APPS | {"migrate"}:
                assert name.startswith("registry.example.org/"), container["image"]


def test_probes(overlay: list[dict[str, Any]]) -> None:
    specs = pod_specs(overlay)
    for name, port in HTTP_APPS.items():
        container = main_container(specs[name])
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        host = "NEUROSCREEN_INTAKE_HOST" if name == "intake" else "NEUROSCREEN_NOTIFY_HOST"
        assert {"name": host, "value": "0.0.0.0"} in container["env"]
    for name in WORKERS:
        probe = main_container(specs[name])["livenessProbe"]
        script = " ".join(probe["exec"]["command"])
        assert f"celery -A {name}.worker inspect ping -d" in script
        assert "celery@${HOSTNAME}" in script
        assert probe["timeoutSeconds"] > 10, "the ping itself waits 10 s"
    for name in ("postgres", "redis"):
        assert "readinessProbe" in main_container(specs[name]), name


def test_relay_runs_two_replicas_with_a_heartbeat_probe(overlay: list[dict[str, Any]]) -> None:
    relay = by_kind(overlay, "Deployment")["relay"]
    # Two replicas are safe (SKIP LOCKED) and keep alerts flowing through a restart.
    assert relay["spec"]["replicas"] >= 2
    container = main_container(relay["spec"]["template"]["spec"])
    assert container["livenessProbe"]["exec"]["command"] == ["neuroscreen-relay", "--check"]
    assert "neuroscreen-ehr" not in str(container.get("envFrom")), "the relay needs no EHR access"
    assert by_kind(overlay, "PodDisruptionBudget")["relay"]["spec"]["minAvailable"] >= 1


def test_worker_concurrency_is_bounded(overlay: list[dict[str, Any]]) -> None:
    specs = pod_specs(overlay)
    for name in WORKERS:
        env = {e["name"]: e.get("value") for e in main_container(specs[name])["env"]}
        assert int(env["CELERY_WORKER_CONCURRENCY"]) >= 1, name


def test_pods_are_locked_down(overlay: list[dict[str, Any]]) -> None:
    for name, spec in pod_specs(overlay).items():
        assert spec["automountServiceAccountToken"] is False, name
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        mounted = set()
        for container in containers(spec):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, (name, container["name"])
            assert security["readOnlyRootFilesystem"] is True, (name, container["name"])
            assert security["capabilities"] == {"drop": ["ALL"]}, (name, container["name"])
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
            mounted |= {m["mountPath"] for m in container.get("volumeMounts", [])}
        if name in APPS:
            assert {"/tmp", "/var/lib/neuroscreen"} <= mounted, name


def test_namespace_enforces_restricted_pod_security(overlay: list[dict[str, Any]]) -> None:
    (namespace,) = by_kind(overlay, "Namespace").values()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# --- configuration and secrets ---------------------------------------------------------


def test_settings_names_are_real(overlay: list[dict[str, Any]]) -> None:
    settings = settings_env_names()
    names = set(by_kind(overlay, "ConfigMap")["neuroscreen-config"]["data"])
    for name in APPS:
        for container in containers(pod_specs(overlay)[name]):
            names |= env_names(container)
    for secret in load_yaml_documents(BASE / "secrets.example.yaml"):
        names |= set(secret["stringData"])
    unknown = sorted(n for n in names if n.startswith("NEUROSCREEN_") and n not in settings)
    assert not unknown, f"not fields of shared/config.py: {unknown}"


def test_secrets_are_referenced_not_inlined(overlay: list[dict[str, Any]]) -> None:
    assert not by_kind(overlay, "Secret"), "Secrets are created out of band"
    example = {
        doc["metadata"]["name"]: set(doc["stringData"])
        for doc in load_yaml_documents(BASE / "secrets.example.yaml")
    }
    for name, spec in pod_specs(overlay).items():
        for container in containers(spec):
            for secret, key in secret_refs(container):
                assert secret in example, (name, secret)
                assert key is None or key in example[secret], (name, secret, key)
            for item in container.get("env", []):
                if re.search(r"TOKEN|PASSWORD|DATABASE_URL", item["name"]):
                    assert "valueFrom" in item, (name, item["name"])


def test_mounted_secrets_are_in_the_example(overlay: list[dict[str, Any]]) -> None:
    example = {
        doc["metadata"]["name"]: set(doc["stringData"])
        for doc in load_yaml_documents(BASE / "secrets.example.yaml")
    }
    for name, spec in pod_specs(overlay).items():
        for secret, key, _ in volume_secrets(spec):
            assert secret in example, (name, secret)
            assert key is None or key in example[secret], (name, secret, key)


def test_the_deploy_steps_create_every_secret_a_pod_needs(overlay: list[dict[str, Any]]) -> None:
    # A required Secret nobody creates leaves its pods in ContainerCreating for ever.
    guide = (ROOT / "deploy/README.md").read_text()
    steps = guide[guide.index("**Namespace and secrets**") : guide.index("**Apply and check:**")]
    example = (BASE / "secrets.example.yaml").read_text()
    for name, spec in pod_specs(overlay).items():
        for secret in required_secrets(spec):
            assert secret in created_secrets(steps), (
                f"deploy/README.md step 3: {name} needs {secret}"
            )
            assert secret in created_secrets(example), (
                f"secrets.example.yaml: {name} needs {secret}"
            )


def test_ehr_credentials_reach_the_notify_worker_only(overlay: list[dict[str, Any]]) -> None:
    for name, spec in pod_specs(overlay).items():
        uses_ehr = any(
            secret == "neuroscreen-ehr" for c in containers(spec) for secret, _ in secret_refs(c)
        )
        assert uses_ehr == (name == "notify"), name
    config = by_kind(overlay, "ConfigMap")["neuroscreen-config"]["data"]
    assert not [key for key in config if key.startswith("NEUROSCREEN_EHR_")]


# --- scaling and disruption --------------------------------------------------------------


def test_intake_scales_with_an_hpa(overlay: list[dict[str, Any]]) -> None:
    hpas = by_kind(overlay, "HorizontalPodAutoscaler")
    assert set(hpas) == {"intake"}
    target = hpas["intake"]["spec"]["scaleTargetRef"]
    assert target == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "intake"}
    assert hpas["intake"]["spec"]["minReplicas"] >= 2
    # The autoscaler owns the replica count: a fixed one would fight it on every apply.
    assert "replicas" not in by_kind(overlay, "Deployment")["intake"]["spec"]


def test_scaled_objects(overlay: list[dict[str, Any]], overlay_namespace: str) -> None:
    scaled = by_kind(overlay, "ScaledObject")
    deployments = by_kind(overlay, "Deployment")
    assert set(scaled) == WORKERS
    for name, doc in scaled.items():
        assert doc["apiVersion"] == "keda.sh/v1alpha1"
        spec = doc["spec"]
        assert spec["scaleTargetRef"] == {"name": name}
        assert name in deployments and "replicas" not in deployments[name]["spec"]
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"], name
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "redis"
        metadata = trigger["metadata"]
        # Celery's Redis transport keeps each queue in a list named after it.
        # Scaled on the first (live) queue; screening's second, screening-bulk, is backlog.
        queue = main_container(pod_specs(overlay)[name])["command"][5].split(",")[0]
        assert metadata["listName"] == queue == name
        assert all(isinstance(value, str) for value in metadata.values()), "KEDA wants strings"
        assert int(metadata["listLength"]) > 0
        assert metadata["databaseIndex"] == "0"  # redis://redis:6379/0
        assert metadata["address"] == f"redis.{overlay_namespace}.svc.cluster.local:6379"


def test_disruption_budgets_cover_the_services(overlay: list[dict[str, Any]]) -> None:
    budgets = by_kind(overlay, "PodDisruptionBudget")
    deployments = by_kind(overlay, "Deployment")
    assert {"intake", "screening", "notify"} <= set(budgets)
    for name, budget in budgets.items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        selector = budget["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items(), name
    assert budgets["intake"]["spec"]["minAvailable"] >= 1


def test_services_select_their_pods(overlay: list[dict[str, Any]]) -> None:
    workloads = {**by_kind(overlay, "Deployment"), **by_kind(overlay, "StatefulSet")}
    for name, service in by_kind(overlay, "Service").items():
        labels = workloads[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items(), name
    assert {"intake", "notify-api", "postgres", "redis"} <= set(by_kind(overlay, "Service"))
    broker = by_kind(overlay, "ConfigMap")["neuroscreen-config"]["data"]["NEUROSCREEN_BROKER_URL"]
    assert broker == "redis://redis:6379/0"


# --- network policies ---------------------------------------------------------------------


def _selected(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]
    if selector.get("matchLabels", {}).items() - labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        value = labels.get(expression["key"])
        if expression["operator"] == "In" and value not in expression["values"]:
            return False
    return True


def test_network_policies(overlay: list[dict[str, Any]]) -> None:
    policies = by_kind(overlay, "NetworkPolicy")
    deny = policies["default-deny-all"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    dns = policies["allow-dns-egress"]["spec"]
    assert dns["podSelector"] == {}
    assert {p["port"] for p in dns["egress"][0]["ports"]} == {53}

    workloads = {**by_kind(overlay, "Deployment"), **by_kind(overlay, "StatefulSet")}
    labels = {n: w["spec"]["template"]["metadata"]["labels"] for n, w in workloads.items()}

    def egress_ports(workload: str) -> set[int]:
        return {
            port["port"]
            for policy in policies.values()
            if "Egress" in policy["spec"]["policyTypes"] and _selected(policy, labels[workload])
            for rule in policy["spec"].get("egress", [])
            for port in rule.get("ports", [])
        }

    def ingress_ports(workload: str) -> set[int]:
        return {
            port["port"]
            for policy in policies.values()
            if "Ingress" in policy["spec"]["policyTypes"] and _selected(policy, labels[workload])
            for rule in policy["spec"].get("ingress", [])
            for port in rule.get("ports", [])
        }

    for app in APPS:
        assert {53, 5432, 6379} <= egress_ports(app), app
    assert ingress_ports("intake") == {8000}
    assert ingress_ports("notify-api") == {8001}
    assert ingress_ports("postgres") == {5432}
    assert ingress_ports("redis") == {6379}
    for workload in ("screening", "notify", "relay"):
        assert not ingress_ports(workload), workload

    # Leaving the cluster (ipBlock) is the notify worker's privilege alone.
    for name, policy in policies.items():
        for rule in policy["spec"].get("egress", []):
            if any("ipBlock" in peer for peer in rule.get("to", [])):
                selected = {w for w in workloads if _selected(policy, labels[w])}
                assert selected == {"notify"}, name
    assert 443 in egress_ports("notify")
    for workload in workloads:
        if workload != "notify":
            assert 443 not in egress_ports(workload), workload


def test_overlay_narrows_the_ehr_egress(overlay: list[dict[str, Any]]) -> None:
    rule = by_kind(overlay, "NetworkPolicy")["notify-ehr-egress"]["spec"]["egress"][0]
    assert rule["to"] == [{"ipBlock": {"cidr": "203.0.113.0/24"}}]


def test_datastores_persist(overlay: list[dict[str, Any]]) -> None:
    statefulsets = by_kind(overlay, "StatefulSet")
    redis_args = " ".join(main_container(statefulsets["redis"]["spec"]["template"]["spec"])["args"])
    assert "--appendonly yes" in redis_args and "--appendfsync everysec" in redis_args
    for name in ("postgres", "redis"):
        assert statefulsets[name]["spec"]["volumeClaimTemplates"], name


def test_manifest_files_are_all_used() -> None:
    listed: set[Path] = set()
    for path in KUBERNETES.rglob("kustomization.yaml"):
        for entry in yaml.safe_load(path.read_text()).get("resources", []):
            listed.add((path.parent / entry).resolve())
    for path in KUBERNETES.rglob("*.yaml"):
        if path.name in {"kustomization.yaml", "secrets.example.yaml"}:
            continue
        assert path.resolve() in listed, f"{path.relative_to(ROOT)} is in no kustomization"


def test_the_overlay_runs_in_production_mode(overlay: list[dict[str, Any]]) -> None:
    """With real secrets in place, the example's settings pass production's checks."""
    data = by_kind(overlay, "ConfigMap")["neuroscreen-config"]["data"]
    assert data["NEUROSCREEN_ENV"] == "production"
    fields = {name.removeprefix("NEUROSCREEN_").lower(): value for name, value in data.items()}
    secrets = {
        "intake_tokens": "a" * 64,
        "notify_tokens": "b" * 64,
        "database_url": "postgresql://neuroscreen:" + "c" * 32 + "@postgres:5432/neuroscreen",
    }
    assert Settings(**fields, **secrets).public_base_url.startswith("https://")


def test_the_ingress_publishes_no_metrics(overlay: list[dict[str, Any]]) -> None:
    """/metrics, /healthz and /readyz stay in the cluster (issue 18, item 11)."""
    paths = {
        path["path"]
        for ingress in overlay
        if ingress["kind"] == "Ingress"
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert paths == {"/fhir", "/cds-services", "/reports"}
