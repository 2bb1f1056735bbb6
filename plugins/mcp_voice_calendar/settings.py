"""`[plugins.calendar]` settings, validated by the framework's `Config.plugin_settings`."""

from __future__ import annotations

from datetime import time
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from .errors import CalendarError
from .times import local_zone_name, zone


class CalendarSettings(BaseModel):
    """Where the calendar lives, its time zone, and the work hours free slots are found in.

    Unknown keys are ignored: the framework's common policy keys (`long_running`, `approval`,
    `timeout_s`, `on_barge_in`, `max_concurrency`, `tools`) share the table.
    """

    model_config = ConfigDict(extra="ignore")

    store: str = Field(default="calendar.ics", description=".ics file, relative to the config's folder")
    timezone: str = Field(default_factory=local_zone_name, description="IANA zone for naive times")
    caldav_url: str | None = Field(default=None, description="a CalDAV calendar collection URL")
    caldav_username: str | None = None
    caldav_password: SecretStr | None = None
    day_start: time = time(9, 0)
    day_end: time = time(17, 0)
    work_days: list[int] = Field(default=[1, 2, 3, 4, 5], description="ISO weekdays: 1 = Monday")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zone(value)
        except CalendarError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("work_days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(day < 1 or day > 7 for day in value):
            raise ValueError("work days are ISO weekdays 1 (Monday) to 7 (Sunday)")
        return sorted(set(value))

    @field_validator("caldav_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("caldav_url must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _hours(self) -> Self:
        if self.day_end <= self.day_start:
            raise ValueError("day_end must be after day_start")
        return self
