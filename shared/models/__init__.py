"""Every table NeuroScreen keeps; one Alembic history (``shared/migrations``) creates them."""

from shared.models.audit import AuditEventRecord, UsedAssertion
from shared.models.base import Base
from shared.models.cds import CdsCard, CdsFeedback
from shared.models.delivery import Delivery, DeliveryAttempt, RefusedAttachment
from shared.models.imports import ImportJob, RefusedLine
from shared.models.outbox import OutboxMessage
from shared.models.periodic import PeriodicJob
from shared.models.rescreen import ItemOutcome, RescreenItem, RescreenRun, RunStatus
from shared.models.resources import (
    DerivedResource,
    DerivedResourceVersion,
    QuestionnaireResponseRecord,
    Screening,
)

__all__ = [
    "AuditEventRecord",
    "Base",
    "CdsCard",
    "CdsFeedback",
    "Delivery",
    "DeliveryAttempt",
    "DerivedResource",
    "DerivedResourceVersion",
    "ImportJob",
    "ItemOutcome",
    "OutboxMessage",
    "PeriodicJob",
    "QuestionnaireResponseRecord",
    "RefusedAttachment",
    "RefusedLine",
    "RescreenItem",
    "RescreenRun",
    "RunStatus",
    "Screening",
    "UsedAssertion",
]
