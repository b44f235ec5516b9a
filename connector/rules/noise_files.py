"""The models of the alert-noise rule files (issue 18): ``flapping.yaml``.

Kept apart from ``connector.rules.files`` (which re-exports them and lists them in ``SCHEMAS``)
so each module stays one job: these files say when the connector holds back, not what a ticket
is. Loaded like every rule file: unknown keys and bad values are ``file:line`` errors.
"""

from __future__ import annotations

__all__ = ["FlappingFile"]

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FlappingFile(_Strict):
    """``flapping.yaml``: when one trigger's problem comes and goes too often to be new work."""

    enabled: bool = True
    #: a trigger (one fingerprint) is flapping when it changes state more than this many times…
    max_changes: int = Field(ge=1)
    #: …within this many minutes before it (one exactly that long before no longer counts)
    window_minutes: float = Field(gt=0)
    #: a flapping ticket is resolved once its last recovery has held this long (it settled)
    quiet_minutes: float = Field(gt=0)
