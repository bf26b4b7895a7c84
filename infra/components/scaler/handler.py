"""The scaler's Lambda entry point (EventBridge schedule, every minute).

A thin door: the pass itself is ``hyper_tui.aws.scaler`` (the client runs the same code on
demand); its config is ``hyper_tui.aws.scaler_config.ScalerConfig`` as JSON in ``config.json``
beside this file, written into the Lambda asset at synth (``scaler_config.CONFIG_FILE``).
"""

from __future__ import annotations

from typing import Any

from hyper_tui.aws import scaler


def handler(event: Any, context: Any) -> dict[str, Any]:
    """One scaler pass; returns (and logs) what it saw and did."""
    return scaler.handler(event, context)
