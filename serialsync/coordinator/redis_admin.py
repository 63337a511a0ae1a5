"""Redis plumbing shared by the coordinator and the command line: URLs, clients, group names, admin.

``serialsync groups list|clear`` works through list_groups and clear_group;
RedisCoordinator connects through make_client. Nothing here waits or
subscribes: that is the coordinator's business (redis.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis

from serialsync.coordinator.rules import log
from serialsync.errors import CoordinatorError

__all__ = [
    "KEY_ROOT",
    "PASSWORD_ENV",
    "check_group",
    "clear_group",
    "group_prefix",
    "list_groups",
    "make_client",
    "redact_url",
    "redis_errors",
]

PASSWORD_ENV = "SERIALSYNC_REDIS_PASSWORD"
KEY_ROOT = "serialsync"
_GROUP_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe to log."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            userinfo, _, hostinfo = netloc.rpartition("@")
            user = userinfo.partition(":")[0]
            netloc = f"{user}:***@{hostinfo}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*")
        # Not urlunsplit: it drops the "//" of "unix:///path".
        redacted = f"{parts.scheme}://{netloc}{parts.path}"
        return redacted + (f"?{query}" if query else "") + (f"#{parts.fragment}" if parts.fragment else "")
    except ValueError:
        return "<unparsable redis url>"


def make_client(url: str) -> redis.Redis:
    """A binary-safe client; the password comes from the URL, else from $SERIALSYNC_REDIS_PASSWORD."""
    if not isinstance(url, str) or urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"redis url must look like redis://, rediss:// or unix://..., not {redact_url(str(url))!r}")
    kwargs: dict[str, object] = {"decode_responses": False}
    password = os.environ.get(PASSWORD_ENV)
    if password:
        # redis-py lets a password in the URL win over this keyword.
        kwargs["password"] = password
    try:
        return redis.Redis.from_url(url, **kwargs)
    except ValueError as exc:
        # redis-py's messages may quote the URL; never echo it unredacted.
        raise ValueError(f"invalid redis url {redact_url(url)!r}") from exc


def check_group(group: object) -> str:
    if not isinstance(group, str) or not _GROUP_RE.fullmatch(group):
        raise ValueError(f"group must be 1-64 characters of A-Z a-z 0-9 _ . -, not {group!r}")
    return group


def group_prefix(group: str) -> str:
    return f"{KEY_ROOT}:{group}:"


@contextmanager
def redis_errors(url: str, what: str) -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        raise CoordinatorError(f"redis {redact_url(url)}: {what} failed: {exc}") from exc


def list_groups(url: str) -> list[str]:
    """Names of the groups stored at ``url``, sorted."""
    client = make_client(url)
    try:
        with redis_errors(url, "list groups"):
            groups = set()
            for key in client.scan_iter(match=f"{KEY_ROOT}:*:members".encode(), count=500):
                name = key.decode("utf-8", "replace")[len(KEY_ROOT) + 1 : -len(":members")]
                if _GROUP_RE.fullmatch(name):
                    groups.add(name)
            return sorted(groups)
    finally:
        client.close()


def clear_group(url: str, group: str) -> int:
    """Delete every key of ``group``; coordinators still attached see an empty group.

    Returns how many keys were deleted: 0 when there was no such group.
    """
    prefix = group_prefix(check_group(group))
    client = make_client(url)
    try:
        with redis_errors(url, f"clear group {group!r}"):
            keys = set(client.smembers(prefix + "keys"))
            keys.update(client.scan_iter(match=(prefix + "*").encode(), count=500))
            deleted = int(client.delete(*keys)) if keys else 0
            client.publish(prefix + "events", b"clear")
        log.info("cleared group %r at %s (%d keys)", group, redact_url(url), deleted)
        return deleted
    finally:
        client.close()
