from __future__ import annotations

from pydantic import Field

from ._base import Section


class ServiceConfig(Section):
    """Who this service is: used for telemetry resources, logs and problem documents."""

    name: str = Field(default="erp-service", min_length=1)
    version: str = "0.0.0"
    environment: str = Field(default="development", min_length=1)
    debug: bool = False
