"""The one way to await a call to a Ray actor, and its one error policy.

Every actor method returns its result or raises a ``GridError``. Ray delivers a
raised error wrapped in its own ``RayTaskError``; ``submit`` unwraps it, maps a dead
or unreachable actor to the retryable ``PartitionUnavailableError``, and anything
unexpected to ``InternalServerError`` (its detail logged here, never put in the
message). The client's Ray transport and the actors' proxies both call through here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from grid.errors import GridError, InternalServerError, PartitionUnavailableError

__all__ = ["as_grid_error", "submit"]

log = logging.getLogger("grid")


def submit(method: Any, *args: Any) -> Awaitable[Any]:
    """Send ``method.remote(*args)`` now; awaiting the answer gives its result or raises a ``GridError``.

    Sent at once, not when the event loop first runs a coroutine: callers that go on
    with other work (a stream reader's next poll, a batch of calls) keep it travelling.
    """
    try:
        reference = method.remote(*args)
    except Exception as error:
        return _fail(as_grid_error(error))
    return _answer(reference)


async def _answer(reference: Any) -> Any:
    try:
        return await reference
    except Exception as error:
        raise as_grid_error(error) from None


async def _fail(error: Exception) -> Any:
    raise error


def as_grid_error(error: Exception) -> Exception:
    """Ray's errors as grid's: the actor's own ``GridError``, else unavailable or internal."""
    from ray import exceptions as ray_errors

    if isinstance(error, ray_errors.RayTaskError):
        # First: Ray may raise a class that is both its wrapper and the actor's error.
        cause = error.cause if isinstance(getattr(error, "cause", None), BaseException) else None
        if isinstance(cause, GridError):
            return cause
        log.error("internal error in a grid actor: %s", cause or error)
        return InternalServerError("Internal error in a grid actor")
    if isinstance(error, GridError):
        return error
    if isinstance(error, (ray_errors.RayActorError, ray_errors.ActorUnavailableError)):
        return PartitionUnavailableError(f"Actor unavailable: {error.__class__.__name__}")
    if isinstance(error, ray_errors.RaySystemError):
        return PartitionUnavailableError("Ray system error")
    return error
