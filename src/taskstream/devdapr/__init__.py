"""daprd and the Dapr scheduler for development and tests: built from the Go module (`build`), rendered
resources (`resources`) and their command lines (`processes`)."""

from taskstream.devdapr.build import DAPR_VERSION, DaprBinaries, DaprUnavailable, binaries, build, installed
from taskstream.devdapr.processes import (
    SchedulerPorts,
    SidecarPorts,
    daprd_command,
    scheduler_command,
)

__all__ = [
    "DAPR_VERSION",
    "DaprBinaries",
    "DaprUnavailable",
    "SchedulerPorts",
    "SidecarPorts",
    "binaries",
    "build",
    "daprd_command",
    "installed",
    "scheduler_command",
]
