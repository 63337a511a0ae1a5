"""Group coordination with LAVA MultiNode semantics: messages, barriers, roles, deadlines."""

from serialsync.coordinator.base import Coordinator, GroupData, Member
from serialsync.coordinator.memory import MemoryCoordinator

__all__ = ["Coordinator", "GroupData", "Member", "MemoryCoordinator"]
