"""Job files: load and validate them, run them on a group of devices."""

from .load import load_job, parse_job
from .model import Device, Job, Timeouts
from .results import DeviceResult, JobResult, StepResult
from .run import Reporter, run_job

__all__ = [
    "Device",
    "DeviceResult",
    "Job",
    "JobResult",
    "Reporter",
    "StepResult",
    "Timeouts",
    "load_job",
    "parse_job",
    "run_job",
]
