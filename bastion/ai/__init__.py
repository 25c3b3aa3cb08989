"""AI and ML: models served in micro-batches (``serving``)."""

from bastion.ai.serving import ModelBusy, ModelFailed, ModelStats, ModelTimeout, ServedModel

__all__ = [
    "ModelBusy",
    "ModelFailed",
    "ModelStats",
    "ModelTimeout",
    "ServedModel",
]
