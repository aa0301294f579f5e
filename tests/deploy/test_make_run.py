"""``make run`` as a new user sees it: one "ready" line once everything answers, logs aside."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.local_run import READY, LocalRun, local_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalRun, str]]:
    with local_run(tmp_path_factory.mktemp("make-run")) as run:
        line = run.wait_for_line(READY, 120)
        # Asked the moment the line is printed: "ready" must mean every service answers.
        answers = {
            "intake": httpx.get(run.base_url[: -len("/fhir")] + "/readyz").status_code,
            "notify-api": httpx.get(run.notify_url + "/readyz").status_code,
        }
        assert answers == {"intake": 200, "notify-api": 200}
        yield run, line


def test_the_ready_line_says_where_everything_is(started: tuple[LocalRun, str]) -> None:
    run, line = started
    assert run.base_url in line
    assert "token dev-token" in line
    assert f"console {run.notify_url}/console" in line
    assert f"intake {run.intake_port}" in line and f"notify admin {run.notify_port}" in line
    assert sum(READY in printed for printed in run.output) == 1


def test_workers_were_ready_when_the_line_was_printed(started: tuple[LocalRun, str]) -> None:
    run, _ = started
    for queue in ("screening", "notify"):
        assert (run.data_dir / f"worker-{queue}.ready").exists(), queue
    assert (run.data_dir / "relay.heartbeat").exists()
    with httpx.Client(headers={"Authorization": "Bearer dev-token"}) as client:
        assert client.get(run.base_url + "/metadata").status_code == 200


def test_the_terminal_stays_short_and_the_logs_are_kept(started: tuple[LocalRun, str]) -> None:
    run, _ = started
    # Celery's banners and every access log line go to var/log/, not over the ready line.
    # Only make run's own lines: where the logs are, "still starting" notes while it waits
    # (one per 15 s), the ready line and what happens to alerts.
    own = ("Starting NeuroScreen", "still starting: ", READY, "EHR: ")
    assert all(line.startswith(own) for line in run.output), run.output
    assert not any("screening@" in line or "celery" in line for line in run.output)
    logs = {path.name for path in (run.data_dir / "log").glob("*.log")}
    assert logs == {
        f"{name}.log" for name in ("intake", "relay", "screening", "notify", "notify-api")
    }
    assert "screening@" in (run.data_dir / "log" / "screening.log").read_text()


def test_verbose_shows_the_services_output(tmp_path: Path) -> None:
    with local_run(tmp_path, "--verbose") as run:
        run.wait_for_line(READY, 120)
        assert any("screening@" in line for line in run.output)
        assert not (tmp_path / "var" / "log" / "screening.log").exists()


def test_ctrl_c_stops_everything(tmp_path: Path) -> None:
    with local_run(tmp_path) as run:
        run.wait_for_line(READY, 120)
        assert run.stop() == 0
        for queue in ("screening", "notify"):
            assert not (run.data_dir / f"worker-{queue}.ready").exists(), queue
        with pytest.raises(httpx.ConnectError):
            httpx.get(run.base_url + "/metadata")
