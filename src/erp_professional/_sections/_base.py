from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Base of every configuration section: unknown keys are errors, values are re-validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
