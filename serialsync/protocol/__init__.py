"""The marker protocol, sans-IO: bytes in, events out; replies out as bytes.

Imports nothing but serialsync.errors: no sockets, no pexpect, no clocks.
"""

from .events import (
    DamagedRequest,
    Dialect,
    Discarded,
    Event,
    GroupRequest,
    LostStarts,
    RejectedRequest,
    ReplyReceived,
    Request,
    ResendRequest,
    SendRequest,
    SyncRequest,
    WaitAllRequest,
    WaitRequest,
)
from .parser import NEED_DATA, MarkerParser
from .replies import Ack, GroupInfo, Nack, Reply, ReplyAssembler, WaitComplete, encode_reply

__all__ = [
    "NEED_DATA",
    "Ack",
    "DamagedRequest",
    "Dialect",
    "Discarded",
    "Event",
    "GroupInfo",
    "GroupRequest",
    "LostStarts",
    "MarkerParser",
    "Nack",
    "RejectedRequest",
    "Reply",
    "ReplyAssembler",
    "ReplyReceived",
    "Request",
    "ResendRequest",
    "SendRequest",
    "SyncRequest",
    "WaitAllRequest",
    "WaitComplete",
    "WaitRequest",
    "encode_reply",
]
