"""serialsync: LAVA MultiNode synchronisation over serial consoles alone."""

__version__ = "0.1.0"

from .errors import (
    CoordinatorError,
    DeviceLeft,
    GroupTimeout,
    JobConfigError,
    ProtocolError,
    SerialsyncError,
    TransportError,
)

__all__ = [
    "CoordinatorError",
    "DeviceLeft",
    "GroupTimeout",
    "JobConfigError",
    "ProtocolError",
    "SerialsyncError",
    "TransportError",
    "__version__",
]
