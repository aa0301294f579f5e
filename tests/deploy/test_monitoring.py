"""Alert rules, scrape configuration and the Grafana dashboard.

Every metric an expression selects must be one NeuroScreen exports (or one
of the few external ones named below): a renamed metric must break this test,
not silently turn an alert into one that can never fire.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from deploy_render import ROOT, by_kind, promql_metric_names, render_kustomization

MONITORING = ROOT / "deploy/monitoring"

# The metrics NeuroScreen exports (shared/metrics.py, shared/outbox.py,
# services/intake/intake/middleware.py, services/notify/notify/delivery.py).
COUNTERS = {
    "neuroscreen_http_requests_total",
    "neuroscreen_outbox_publish_failures_total",
    "neuroscreen_redelivered_total",
    "neuroscreen_deliveries_total",
    "neuroscreen_escalations_total",
    "neuroscreen_alert_attachments_refused_total",
}
GAUGES = {
    "neuroscreen_outbox_depth",
    "neuroscreen_outbox_oldest_age_seconds",
    "neuroscreen_responses",
    "neuroscreen_dead_letters",
    "neuroscreen_urgent_alerts_overdue",
    "neuroscreen_alert_tasks",
    "neuroscreen_escalations_pending",
    "neuroscreen_periodic_job_age_seconds",
    "neuroscreen_periodic_job_failing",
}
HISTOGRAMS = {"neuroscreen_http_request_duration_seconds"}
NEUROSCREEN_METRICS = (
    COUNTERS
    | GAUGES
    | {f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
)
# Not ours, and why they are allowed.
EXTERNAL_METRICS = {
    "up",  # Prometheus' own: the scrape target answered
    "kube_deployment_status_replicas_available",  # kube-state-metrics (Kubernetes only)
}
RESPONSE_STATES = {
    "received",
    "scored",
    "failed",
    "notified",
    "no-alert",
    "held",
    "retrying",
    "dead-letter",
}
SCRAPE_JOBS = {"neuroscreen-intake", "neuroscreen-notify-api"}
DURATION = re.compile(r"(\d+(ms|s|m|h|d|w|y))+")


@pytest.fixture(scope="module")
def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((MONITORING / "alerts.rules.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def assert_known_metrics(expr: str, where: str) -> set[str]:
    names = promql_metric_names(expr)
    assert names, f"{where}: selects no metric: {expr}"
    unknown = names - NEUROSCREEN_METRICS - EXTERNAL_METRICS
    assert not unknown, f"{where}: unknown metrics {sorted(unknown)} in {expr}"
    assert expr.count("(") == expr.count(")"), f"{where}: unbalanced parentheses"
    for state in re.findall(r'state=~?"([^"]+)"', expr):
        assert set(state.split("|")) <= RESPONSE_STATES, f"{where}: no state {state}"
    return names


def test_metric_name_extraction() -> None:
    expr = (
        'sum by (service) (rate(neuroscreen_http_requests_total{status=~"5.."}[5m])) / '
        "histogram_quantile(0.95, sum by (le) (rate(neuroscreen_http_request_duration_seconds_bucket[5m])))"
        ' and up{job="x"} == 0 and deriv(max(neuroscreen_outbox_depth)[15m:1m]) > 1e3'
    )
    assert promql_metric_names(expr) == {
        "neuroscreen_http_requests_total",
        "neuroscreen_http_request_duration_seconds_bucket",
        "up",
        "neuroscreen_outbox_depth",
    }


def test_rules_are_well_formed(rules: list[dict[str, Any]]) -> None:
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "duplicate alert names"
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"NeuroScreen[A-Z][A-Za-z0-9]+", rule["alert"])
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert DURATION.fullmatch(rule.get("for", "0m")), rule["alert"]
        assert_known_metrics(rule["expr"], rule["alert"])


def test_rules_cover_what_operators_must_know(rules: list[dict[str, Any]]) -> None:
    def alerting_on(metric: str) -> list[dict[str, Any]]:
        return [rule for rule in rules if metric in promql_metric_names(rule["expr"])]

    for metric in (
        "neuroscreen_dead_letters",
        "neuroscreen_urgent_alerts_overdue",
        "neuroscreen_escalations_pending",
        "neuroscreen_escalations_total",
        "neuroscreen_periodic_job_age_seconds",
        "neuroscreen_alert_attachments_refused_total",
        "neuroscreen_outbox_depth",
        "neuroscreen_outbox_oldest_age_seconds",
        "neuroscreen_http_requests_total",
        "up",
    ):
        assert alerting_on(metric), f"no alert on {metric}"
    (overdue,) = alerting_on("neuroscreen_urgent_alerts_overdue")
    assert overdue["labels"]["severity"] == "critical"
    (down,) = alerting_on("up")
    assert "== 0" in down["expr"]
    assert set(re.search(r'job=~"([^"]+)"', down["expr"])[1].split("|")) == SCRAPE_JOBS
    five_xx = [r for r in alerting_on("neuroscreen_http_requests_total") if '"5.."' in r["expr"]]
    assert five_xx, "no 5xx-rate alert"


def test_prometheus_rule_matches_the_rules_file() -> None:
    plain = yaml.safe_load((MONITORING / "alerts.rules.yml").read_text())
    (rule,) = by_kind(render_kustomization(MONITORING), "PrometheusRule").values()
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"] == plain, "edit alerts.rules.yml and prometheusrule.yaml together"


def test_service_monitor_scrapes_both_http_services() -> None:
    (monitor,) = by_kind(render_kustomization(MONITORING), "ServiceMonitor").values()
    services = by_kind(render_kustomization(ROOT / "deploy/kubernetes/base"), "Service")
    spec = monitor["spec"]
    (expression,) = spec["selector"]["matchExpressions"]
    selected = {
        name
        for name, service in services.items()
        if service["metadata"]["labels"].get(expression["key"]) in expression["values"]
    }
    assert selected == {"intake", "notify-api"}
    jobs = {services[name]["metadata"]["labels"][spec["jobLabel"]] for name in selected}
    assert jobs == SCRAPE_JOBS
    (endpoint,) = spec["endpoints"]
    assert endpoint["path"] == "/metrics" and endpoint["honorLabels"] is True
    for name in selected:
        assert endpoint["port"] in {p["name"] for p in services[name]["spec"]["ports"]}


def test_compose_scrape_config_uses_the_same_jobs() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    assert {job["job_name"] for job in config["scrape_configs"]} == SCRAPE_JOBS
    assert all(job["honor_labels"] for job in config["scrape_configs"])
    assert config["rule_files"] == ["alerts.rules.yml"]


def test_grafana_dashboard_uses_known_metrics() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    (datasource,) = dashboard["templating"]["list"]
    assert datasource["type"] == "datasource" and datasource["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    used: set[str] = set()
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used |= assert_known_metrics(target["expr"], panel["title"])
    # Every NeuroScreen metric has a panel.
    missing = (COUNTERS | GAUGES) - used
    assert not missing, f"no panel shows {sorted(missing)}"
    assert any(name.startswith("neuroscreen_http_request_duration_seconds") for name in used)


def test_dashboard_ships_as_a_grafana_config_map() -> None:
    config_maps = by_kind(render_kustomization(MONITORING), "ConfigMap")
    (config_map,) = config_maps.values()
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    (content,) = config_map["data"].values()
    assert json.loads(content)["uid"] == "neuroscreen-overview"


def test_operations_guide_covers_metrics_and_admin_api() -> None:
    guide = (ROOT / "deploy/README.md").read_text()
    for metric in COUNTERS | GAUGES | HISTOGRAMS:
        assert f"`{metric}" in guide, f"deploy/README.md: what does {metric} mean?"
    for endpoint in (
        "GET /admin/dead-letters`",
        "GET /admin/dead-letters/{response_id}`",
        "POST /admin/dead-letters/{response_id}/replay`",
    ):
        assert endpoint in guide, endpoint
    for topic in ("pg_dump", "point-in-time recovery", "--scale screening", "add the new token"):
        assert topic in guide.lower(), topic
