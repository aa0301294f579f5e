"""The one settings object: every knob is an ``NEUROSCREEN_*`` environment variable.

Values are checked when a process starts, so a typo in a deployment fails at
boot instead of at the first request. The embedded default (SQLite database
and SQLite-backed Celery broker under ``NEUROSCREEN_DATA_DIR``) means a fresh
machine needs nothing installed; ``NEUROSCREEN_DATABASE_URL`` and
``NEUROSCREEN_BROKER_URL`` switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.tiers import Tier
from shared.trust.scopes import ADMIN_SCOPE, is_scope_text

CommaList = Annotated[tuple[str, ...], NoDecode]
EhrAuth = Literal["static", "private-key-jwt", "client-secret-basic", "none"]

# The least notify needs, SMART v2 syntax: every alert resource is a conditional create
# (create + the ifNoneExist search), and the Task follow-up reads and searches Tasks.
DEFAULT_EHR_SCOPES = (
    "system/QuestionnaireResponse.cs system/Observation.cs system/RiskAssessment.cs "
    "system/ServiceRequest.cs system/DiagnosticReport.cs system/Task.crs system/Communication.cs"
)
# Static tokens (NEUROSCREEN_INTAKE_TOKENS) carry these unless NEUROSCREEN_INTAKE_TOKEN_SCOPES
# says otherwise: an EHR's create-and-read, never system/neuroscreen.admin (issue 18, item 7).
DEFAULT_STATIC_TOKEN_SCOPES = (
    "system/QuestionnaireResponse.crs system/RiskAssessment.rs system/Observation.rs "
    "system/ServiceRequest.rs system/Questionnaire.rs system/CodeSystem.rs"
)
# Production refuses what development allows (issue 18, item 7): a static token shorter than
# this many bytes, a well-known one, or a deploy file's placeholder left in a secret.
MIN_STATIC_TOKEN_BYTES = 32
WELL_KNOWN_TOKENS = frozenset({"dev-token", "test-token"})
PLACEHOLDER = "REPLACE-ME"
SMART_SCOPE = re.compile(
    r"system/(\*|[A-Z][A-Za-z]+)\.(\*|read|write|(?=[cruds])c?r?u?d?s?)(\?\S+)?"
)


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _empty_is_none(value: object) -> object:
    # Compose passes an unset variable as "", which must not become Path(".").
    return None if isinstance(value, str) and not value.strip() else value


class Settings(BaseSettings):
    """Configuration shared by intake, screening and notify (README: Configuration)."""

    # hide_input_in_errors: a start-up error must not print the EHR token or client secret.
    model_config = SettingsConfigDict(
        env_prefix="NEUROSCREEN_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    # Storage and broker
    data_dir: Path = Path("./var")
    database_url: str = ""
    """Empty means SQLite at ``<data_dir>/neuroscreen.sqlite``."""
    broker_url: str = ""
    """Empty means kombu's SQLAlchemy transport on ``<data_dir>/broker.sqlite``."""
    database_pool_size: int = Field(default=10, ge=1)

    # Intake
    intake_host: str = "127.0.0.1"
    intake_port: int = Field(default=8000, ge=1, le=65535)
    intake_tokens: CommaList = ()
    intake_token_scopes: str = ""
    """SMART scopes the static tokens carry (see _check_static_tokens); empty means
    DEFAULT_STATIC_TOKEN_SCOPES, which is never admin."""
    intake_workers: int = Field(default=0, ge=0)
    """uvicorn worker processes; 0 means one per CPU core this process may run on."""
    public_base_url: str = ""
    """FHIR base clients see (Location headers, token iss/aud, card links; notify cites it
    for attachments the EHR refused); empty means the bind address (development only)."""
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    # SMART Backend Services, audit and fair use (README: Registering an EHR with the intake)
    smart_clients_file: Path | None = None
    """YAML/JSON list of {client_id, jwks_uri | jwks, scope}; re-read on change or SIGHUP."""
    smart_signing_keys_file: Path | None = None
    """The intake's private JWKS (first key signs); empty means one generated in data_dir."""
    access_token_lifetime_seconds: int = Field(default=300, ge=10, le=300)
    rate_limit_per_second: float = Field(default=2000.0, ge=0)
    """Requests per second per client (0: unlimited); bursts up to rate_limit_burst."""
    rate_limit_burst: int = Field(default=4000, ge=1)
    token_requests_per_minute: float = Field(default=30.0, gt=0)
    jwks_refetch_seconds: float = Field(default=30.0, gt=0)
    """A client's JWKS is fetched at most this often for unknown kids or after a failure."""
    audit_retention_days: int = Field(default=2190, ge=1)
    intake_jwks_url: str = ""
    """Where notify fetches the intake's public keys; empty means derived from the intake's
    public base URL (or host and port)."""
    _no_file = field_validator("smart_clients_file", "smart_signing_keys_file", mode="before")(
        _empty_is_none
    )

    # CDS Hooks patient-view service (README: Showing the screen in the chart)
    cds_issuers_file: Path | None = None
    """YAML/JSON list of {iss, jwks_uri}: the EHRs whose signed CDS Hooks JWTs are trusted."""
    cds_allowed_origins: CommaList = ()
    """Browser origins allowed to call ``/cds-services`` (CORS); empty allows none."""
    cds_documentation_url: str = ""
    """The card's ``source.url``; empty means the intake serves docs/screening.md itself."""
    # Screening report (issue 20): how long a CDS card's signed link to the report opens it.
    report_link_seconds: int = Field(default=900, gt=0, le=3600)
    """Lifetime of a report link (intake.report_links); an hour at most."""
    _cds_file = field_validator("cds_issuers_file", mode="before")(_empty_is_none)
    _cds_origins = field_validator("cds_allowed_origins", mode="before")(_split_commas)

    # Outbox relay and recovery
    relay_interval_seconds: float = Field(default=0.2, gt=0)
    redeliver_after_seconds: float = Field(default=120.0, gt=0)
    """A job not done this long after it became due is published again (tasks are idempotent)."""
    broker_visibility_timeout_seconds: int = Field(default=3600, ge=10)
    relay_metrics_port: int = Field(default=0, ge=0, le=65535)
    """Prometheus port of ``neuroscreen-relay`` (all interfaces); 0 serves no metrics."""

    # Screening
    knowledge_version: str = ""
    """Empty means the newest knowledge base shipped with the screening service."""

    # Re-screening (issue 19): stored responses scored again under another knowledge version
    rescreen_batch_size: int = Field(default=200, ge=1, le=5000)
    """Responses per re-screening batch: one transaction, one job on ``screening-bulk``."""
    import_max_bytes: int = Field(default=4 * 1024**3, ge=1024)
    """``$import``: the largest NDJSON body (each line is also held to max_body_bytes)."""
    import_max_lines: int = Field(default=5_000_000, ge=1)
    import_batch_size: int = Field(default=500, ge=1, le=10_000)
    """Lines stored per transaction (one multi-row INSERT and its outbox rows)."""
    import_screening_due_seconds: float = Field(default=6 * 3600, gt=0)
    """An imported response waits its turn on ``screening-bulk``: the relay re-sends its
    job only if it is still unscored this long after the import (a lost job)."""

    # Notify
    notify_host: str = "127.0.0.1"
    notify_port: int = Field(default=8001, ge=1, le=65535)
    notify_tokens: CommaList = ()
    """Bearer tokens for the notify admin API; empty means the intake tokens."""
    ehr_base_url: str = ""
    """Empty keeps alerts in NeuroScreen's own store (the embedded default)."""
    ehr_token: SecretStr | None = None
    ehr_timeout_seconds: float = Field(default=15.0, gt=0)
    ehr_max_transaction_entries: int = Field(default=0, ge=0)
    """0 (automatic) writes steps of at most 8 entries (Medplum's cap with conditional
    creates); N starts at N. Either way a "too many entries" refusal halves the step."""
    coordinator: str = "CareTeam/neuro-coordinators"
    routing_file: Path | None = None
    alert_min_tier: Tier = "moderate"
    delivery_give_up_seconds: float = Field(default=24 * 3600, gt=0)
    retry_base_seconds: float = Field(default=2.0, gt=0)
    retry_max_seconds: float = Field(default=600.0, gt=0)
    # Backoff per tier (README: Delivery guarantees): an urgent alert is retried at least
    # this often, so one that is still undelivered is seen, and paged, at its deadline.
    retry_max_urgent_seconds: float = Field(default=30.0, gt=0)
    """The longest wait between two attempts of an urgent alert (any tier: retry_max)."""
    urgent_delivery_deadline_seconds: float = Field(default=600.0, gt=0)
    """An urgent alert undelivered this long pages once (log event and metric)."""
    delivery_lease_seconds: float = Field(default=300.0, gt=0)
    """A notify run's claim on a delivery while it calls the EHR; after it, the delivery
    may be claimed again (a dead worker's). Longer than any EHR write (task time limit)."""

    # Closed loop (README: Alert follow-up): Task due times per tier, from the clinical
    # basis' tier actions, then a follow-up of the Task in the EHR and one escalation.
    task_due_urgent_seconds: float = Field(default=4 * 3600, gt=0)
    """Urgent = same-day emergency assessment: the Task is due 4 h after it was written."""
    task_due_high_seconds: float = Field(default=3 * 86400, gt=0)
    """High = specialist work-up within days: 3 days."""
    task_due_moderate_seconds: float = Field(default=14 * 86400, gt=0)
    """Moderate = routine work-up: 14 days."""
    task_due_low_seconds: float = Field(default=30 * 86400, gt=0)
    """Low alerts only when NEUROSCREEN_ALERT_MIN_TIER=low: 30 days."""
    task_follow_up_interval_seconds: float = Field(default=60.0, gt=0)
    """How often notify searches the EHR for its Tasks' status (scheduled by the relay)."""
    escalation_recipient: str = ""
    """Who gets the escalation Communication; empty means NEUROSCREEN_COORDINATOR."""

    # EHR authentication (README: EHR authentication); checked by _check_ehr_auth
    ehr_auth: EhrAuth | None = None
    """Empty means ``static`` when NEUROSCREEN_EHR_TOKEN is set, else ``none``."""
    ehr_client_id: str = ""
    ehr_private_key_file: Path | None = None
    """Read (and parsed) by notify at start-up, not here: intake shares this environment."""
    ehr_public_keys_file: Path | None = None
    """The public halves of the signing keys (PEM or JWK Set), same order: what the notify
    API publishes at /.well-known/jwks.json without ever reading the private file."""
    ehr_key_id: str = ""
    """``kid`` of the signing key; empty means the key's own ``kid`` or its RFC 7638 thumbprint."""
    ehr_client_secret: SecretStr | None = None
    ehr_token_url: str = ""
    """Empty means ``token_endpoint`` from ``{EHR base}/.well-known/smart-configuration``."""
    ehr_scopes: str = DEFAULT_EHR_SCOPES

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Production mode (deploy/README.md: Security). sec-intake's production checks and
    # sec-notify's https checks (_production_needs_https) both key on this one setting.
    env: Literal["development", "production"] = "development"
    ehr_max_search_pages: int = Field(default=1000, ge=1)
    """Pages of one EHR search notify follows (``link[next]``) before giving up on it."""

    _split = field_validator("intake_tokens", "notify_tokens", mode="before")(_split_commas)

    @field_validator(
        "ehr_auth",
        "ehr_token",
        "ehr_private_key_file",
        "ehr_public_keys_file",
        "ehr_client_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Compose passes unset variables as "", which must not become Path(".") or a secret.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("ehr_scopes", mode="before")
    @classmethod
    def _empty_scopes_are_the_default(cls, value: object) -> object:
        return DEFAULT_EHR_SCOPES if isinstance(value, str) and not value.strip() else value

    @field_validator("ehr_scopes")
    @classmethod
    def _scopes_are_smart_system_scopes(cls, value: str) -> str:
        scopes = value.split()
        wrong = [scope for scope in scopes if not SMART_SCOPE.fullmatch(scope)]
        if not scopes or wrong:
            raise ValueError(
                f"need space-separated SMART system scopes such as system/Task.crs, got {wrong}"
            )
        return " ".join(scopes)

    @field_validator("coordinator", "escalation_recipient")
    @classmethod
    def _coordinator_is_reference(cls, value: str, info: ValidationInfo) -> str:
        if value == "" and info.field_name == "escalation_recipient":
            return value  # empty: the coordinator (see escalates_to)
        kind, _, ident = value.partition("/")
        allowed = {"Practitioner", "PractitionerRole", "CareTeam", "Organization"}
        if kind not in allowed or not ident:
            raise ValueError(f"must be a reference to one of {sorted(allowed)}, e.g. CareTeam/x")
        return value

    @model_validator(mode="after")
    def _fill_embedded_defaults(self) -> Settings:
        # The embedded default lives under data_dir; frozen models need object.__setattr__.
        data_dir = self.data_dir.resolve()
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{data_dir}/neuroscreen.sqlite")
        if not self.broker_url:
            object.__setattr__(self, "broker_url", f"sqla+sqlite:///{data_dir}/broker.sqlite")
        if not self.intake_token_scopes.strip():
            object.__setattr__(self, "intake_token_scopes", DEFAULT_STATIC_TOKEN_SCOPES)
        # The notify admin API's static tokens are admin tokens: the intake's stand in for
        # them only when the intake's static tokens are admin too (explicitly configured).
        if not self.notify_tokens and ADMIN_SCOPE in self.intake_token_scopes.split():
            object.__setattr__(self, "notify_tokens", self.intake_tokens)
        if self.ehr_auth is None:
            object.__setattr__(self, "ehr_auth", "static" if self.ehr_token else "none")
        return self

    @model_validator(mode="after")
    def _check_ehr_auth(self) -> Settings:
        needs: dict[str, tuple[str, ...]] = {
            "static": ("ehr_token",),
            "private-key-jwt": ("ehr_client_id", "ehr_private_key_file"),
            "client-secret-basic": ("ehr_client_id", "ehr_client_secret"),
            "none": (),
        }
        auth = self.ehr_auth or "none"
        # Only a process that talks to the EHR needs the credentials (the notify API only
        # publishes the public keys, and gets no EHR base URL).
        missing = [f"NEUROSCREEN_{name.upper()}" for name in needs[auth] if not getattr(self, name)]
        if missing and self.ehr_base_url:
            raise ValueError(f"NEUROSCREEN_EHR_AUTH={auth} needs {', '.join(missing)}")
        # A credential for another mode is a half-done change of mode: say so at start-up.
        unused = [
            f"NEUROSCREEN_{name.upper()}"
            for mode, names in needs.items()
            if mode != auth
            for name in names
            if name != "ehr_client_id" and getattr(self, name)
        ]
        if unused:
            raise ValueError(f"{', '.join(unused)} is not used with NEUROSCREEN_EHR_AUTH={auth}")
        if self.ehr_token_url and not self.ehr_token_url.startswith(("https://", "http://")):
            raise ValueError("NEUROSCREEN_EHR_TOKEN_URL must be an absolute http(s) URL")
        return self

    @model_validator(mode="after")
    def _production_needs_https(self) -> Settings:
        # In production the EHR token, the client secret and the assertions travel only
        # over TLS (issue 18, item 10); the clients' jwks_uri are checked as the files load.
        if not self.production:
            return self
        plain = [
            f"NEUROSCREEN_{name.upper()}"
            for name in ("ehr_base_url", "ehr_token_url")
            if getattr(self, name) and not getattr(self, name).startswith("https://")
        ]
        if plain:
            raise ValueError(f"NEUROSCREEN_ENV=production needs https:// in {', '.join(plain)}")
        return self

    @model_validator(mode="after")
    def _check_static_tokens(self) -> Settings:
        if not is_scope_text(self.intake_token_scopes):
            raise ValueError(
                "NEUROSCREEN_INTAKE_TOKEN_SCOPES must be space-separated SMART system scopes "
                "(e.g. system/QuestionnaireResponse.crs) or system/neuroscreen.admin"
            )
        return self

    @model_validator(mode="after")
    def _production_refuses_development_shortcuts(self) -> Settings:
        # Issue 18, item 7: whatever works for `make run` and the tests must not reach a
        # production deployment. Messages name the setting, never the secret.
        if not self.production:
            return self
        problems = []
        for name in ("intake_tokens", "notify_tokens"):
            tokens: tuple[str, ...] = getattr(self, name)
            if any(token in WELL_KNOWN_TOKENS for token in tokens):
                problems.append(f"NEUROSCREEN_{name.upper()} holds a well-known development token")
            elif any(len(token.encode()) < MIN_STATIC_TOKEN_BYTES for token in tokens):
                problems.append(
                    f"NEUROSCREEN_{name.upper()} holds a token shorter than "
                    f"{MIN_STATIC_TOKEN_BYTES} bytes (generate one: openssl rand -hex 32)"
                )
        secrets = {
            "intake_tokens": ",".join(self.intake_tokens),
            "notify_tokens": ",".join(self.notify_tokens),
            "ehr_token": self.ehr_token.get_secret_value() if self.ehr_token else "",
            "ehr_client_secret": (
                self.ehr_client_secret.get_secret_value() if self.ehr_client_secret else ""
            ),
            "database_url": self.database_url,
            "broker_url": self.broker_url,
        }
        problems += [
            f"NEUROSCREEN_{name.upper()} still holds the {PLACEHOLDER} placeholder"
            for name, value in secrets.items()
            if PLACEHOLDER in value
        ]
        if not self.public_base_url:
            problems.append(
                "NEUROSCREEN_PUBLIC_BASE_URL is empty (token iss/aud, Location and card links "
                "would come from the request's Host header)"
            )
        elif not self.public_base_url.startswith("https://"):
            problems.append("NEUROSCREEN_PUBLIC_BASE_URL must be https://")
        if problems:
            raise ValueError("NEUROSCREEN_ENV=production refuses to start: " + "; ".join(problems))
        return self

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def ehr_configured(self) -> bool:
        return bool(self.ehr_base_url)

    @property
    def fhir_base_url(self) -> str:
        """The intake's FHIR base: the public base URL, else (development only: production
        refuses an empty one) the bind address; never a request's ``Host`` header."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        host = "127.0.0.1" if self.intake_host in ("", "0.0.0.0", "::") else self.intake_host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.intake_port}/fhir"

    @property
    def intake_issuer(self) -> str:
        """The FHIR base the intake's access tokens name as ``iss`` (as notify trusts it)."""
        if self.public_base_url or not self.intake_jwks_url:
            return self.fhir_base_url
        return self.intake_jwks_url.removesuffix("/.well-known/jwks.json")

    @property
    def escalates_to(self) -> str:
        """Who receives the escalation of an unaccepted urgent Task."""
        return self.escalation_recipient or self.coordinator


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings
