"""The validated configuration. Unknown keys are errors (`extra="forbid"`); secrets are SecretStr.

Source tables are validated by each connector's own `Settings` class (looked up in the registry), so a
vendor's settings live in its connector file.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator

from caseline.timeparse import parse_duration

__all__ = [
    "AccountsSettings",
    "AlertSettings",
    "CorrelateSettings",
    "Duration",
    "PagerDutySink",
    "ScheduleSettings",
    "Settings",
    "SinkSettings",
    "SlackSink",
    "StoreSettings",
    "TimelineSettings",
    "WebhookSink",
]

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(_Strict):
    url: str = "sqlite:///caseline.db"


class AccountsSettings(_Strict):
    aliases: dict[str, list[str]] = Field(default_factory=dict)
    free_mail_domains: list[str] = Field(default_factory=list, description="added to the built-in list")

    @field_validator("aliases")
    @classmethod
    def _lower(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return {k.strip().lower(): [d.strip().lower() for d in v] for k, v in value.items()}


class CorrelateSettings(_Strict):
    """`window` is the contract's; the rest are tuning knobs documented in the `caseline init` template."""

    window: Duration = timedelta(hours=2)
    text_threshold: float = Field(default=55.0, ge=0, le=100)
    link_score: float = Field(default=100.0, ge=0, le=100)
    baseline_days: int = Field(default=14, ge=1)
    burst_factor: float = Field(default=3.0, gt=0)
    min_cluster_reports: int = Field(default=2, ge=1)
    min_cluster_accounts: int = Field(default=2, ge=1)
    linkage: Literal["average", "core", "single"] = "average"
    min_density: float = Field(default=0.05, ge=0, le=1)
    account_bonus: float = Field(default=8.0, ge=0, le=100)
    time_penalty: float = Field(default=10.0, ge=0, le=100)
    scorer: Literal["token_sort", "token", "ratio", "token_set", "wratio"] = "token_sort"


class TimelineSettings(_Strict):
    update_cadence: Duration = timedelta(minutes=30)
    dedup_window: Duration = timedelta(minutes=10)


class ScheduleSettings(_Strict):
    sync_every: Duration = timedelta(minutes=5)


class SlackSink(_Strict):
    type: Literal["slack"]
    url: SecretStr
    name: str | None = None


class WebhookSink(_Strict):
    type: Literal["webhook"]
    url: AnyHttpUrl
    secret: SecretStr | None = None
    name: str | None = None


class PagerDutySink(_Strict):
    type: Literal["pagerduty"]
    routing_key: SecretStr
    base_url: AnyHttpUrl = AnyHttpUrl("https://events.pagerduty.com")
    name: str | None = None


SinkSettings = Annotated[SlackSink | WebhookSink | PagerDutySink, Field(discriminator="type")]


class AlertSettings(_Strict):
    min_reports: int = Field(default=5, ge=1)
    min_accounts: int = Field(default=3, ge=1)
    window: Duration = timedelta(minutes=30)
    max_age: Duration = timedelta(hours=24)
    sinks: list[SinkSettings] = Field(default_factory=list)


class Settings(_Strict):
    store: StoreSettings = Field(default_factory=StoreSettings)
    sources: dict[str, Any] = Field(default_factory=dict)
    accounts: AccountsSettings = Field(default_factory=AccountsSettings)
    correlate: CorrelateSettings = Field(default_factory=CorrelateSettings)
    timeline: TimelineSettings = Field(default_factory=TimelineSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
