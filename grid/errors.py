"""One error hierarchy, its leaves named after DynamoDB's error codes.

Every error carries ``.response`` shaped like botocore's ``ClientError`` so that
existing handling (``e.response["Error"]["Code"] == "ConditionalCheckFailedException"``)
keeps working. Errors cross Ray process boundaries, so each class pickles intact.
A registry maps a code to its class for the client and the HTTP edge.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AccessDeniedException",
    "ClientError",
    "ConditionalCheckFailedException",
    "ExpiredIteratorException",
    "GridError",
    "IdempotentParameterMismatchException",
    "IncompleteSignatureException",
    "InternalServerError",
    "InvalidSignatureException",
    "ItemCollectionSizeLimitExceededException",
    "LimitExceededException",
    "MissingAuthenticationTokenException",
    "NotLeaderError",
    "StaleRouterError",
    "PartitionMovedError",
    "PartitionUnavailableError",
    "ProvisionedThroughputExceededException",
    "RequestEntityTooLarge",
    "RequestLimitExceeded",
    "ResourceInUseException",
    "ResourceNotFoundException",
    "SerializationException",
    "ServiceUnavailable",
    "ThrottlingException",
    "TransactionCanceledException",
    "TransactionConflictException",
    "TransactionInProgressException",
    "TrimmedDataAccessException",
    "UnknownOperationException",
    "UnrecognizedClientException",
    "ValidationException",
    "error_class_for_code",
    "registered_error_codes",
]

_REGISTRY: dict[str, type[GridError]] = {}


class GridError(Exception):
    """Base of every error grid raises.

    ``code`` is DynamoDB's error code, ``http_status`` the status the HTTP
    endpoint answers with, ``retryable`` whether the client's retry policy may
    try the request again.
    """

    code: ClassVar[str] = "InternalFailure"
    http_status: ClassVar[int] = 400
    retryable: ClassVar[bool] = False

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            return  # not an error of its own: e.g. the class Ray derives to wrap an actor's error
        if cls.code in _REGISTRY and _REGISTRY[cls.code] is not cls:
            raise TypeError(f"error code {cls.code!r} is registered twice")
        _REGISTRY[cls.code] = cls

    @property
    def response(self) -> dict[str, Any]:
        """The error as botocore's ``ClientError.response`` shapes it."""
        body: dict[str, Any] = {
            "Error": {"Code": self.code, "Message": self.message},
            "ResponseMetadata": {"HTTPStatusCode": self.http_status},
        }
        body.update(self.extra_response_fields())
        return body

    def extra_response_fields(self) -> dict[str, Any]:
        return {}

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep keyword details across pickling: Ray ships errors between processes.
        return (_rebuild_error, (type(self), self.message, self.details))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __str__(self) -> str:
        return f"An error occurred ({self.code}): {self.message}"


def _rebuild_error(cls: type[GridError], message: str, details: dict[str, Any]) -> GridError:
    return cls(message, **details)


# botocore users catch ``ClientError``; grid's base class answers to that name too.
ClientError = GridError


class ValidationException(GridError):
    code = "ValidationException"


class ResourceNotFoundException(GridError):
    code = "ResourceNotFoundException"


class ResourceInUseException(GridError):
    code = "ResourceInUseException"


class LimitExceededException(GridError):
    code = "LimitExceededException"


class ConditionalCheckFailedException(GridError):
    """A condition on a write evaluated to false; nothing was changed.

    ``item`` holds the existing item when the request asked for it with
    ``ReturnValuesOnConditionCheckFailure="ALL_OLD"``.
    """

    code = "ConditionalCheckFailedException"

    @property
    def item(self) -> dict[str, Any] | None:
        return self.details.get("item")

    def extra_response_fields(self) -> dict[str, Any]:
        return {"Item": self.item} if self.item is not None else {}


class ItemCollectionSizeLimitExceededException(GridError):
    code = "ItemCollectionSizeLimitExceededException"


class ProvisionedThroughputExceededException(GridError):
    code = "ProvisionedThroughputExceededException"
    retryable = True


class ThrottlingException(GridError):
    code = "ThrottlingException"
    retryable = True


class RequestLimitExceeded(GridError):
    code = "RequestLimitExceeded"
    retryable = True


class TransactionCanceledException(GridError):
    code = "TransactionCanceledException"

    @property
    def cancellation_reasons(self) -> list[dict[str, Any]]:
        return list(self.details.get("cancellation_reasons", []))

    def extra_response_fields(self) -> dict[str, Any]:
        return {"CancellationReasons": self.cancellation_reasons}


class TransactionConflictException(GridError):
    code = "TransactionConflictException"


class TransactionInProgressException(GridError):
    code = "TransactionInProgressException"


class IdempotentParameterMismatchException(GridError):
    code = "IdempotentParameterMismatchException"


class TrimmedDataAccessException(GridError):
    """A stream read asked for records older than the stream's retention."""

    code = "TrimmedDataAccessException"


class ExpiredIteratorException(GridError):
    code = "ExpiredIteratorException"


class SerializationException(GridError):
    """A request body that is not valid DynamoDB JSON (the HTTP endpoint's)."""

    code = "SerializationException"


class UnknownOperationException(GridError):
    code = "UnknownOperationException"


class MissingAuthenticationTokenException(GridError):
    code = "MissingAuthenticationTokenException"
    http_status = 400


class UnrecognizedClientException(GridError):
    code = "UnrecognizedClientException"


class InvalidSignatureException(GridError):
    code = "InvalidSignatureException"


class IncompleteSignatureException(GridError):
    code = "IncompleteSignatureException"


class AccessDeniedException(GridError):
    code = "AccessDeniedException"


class RequestEntityTooLarge(GridError):
    code = "RequestEntityTooLarge"
    http_status = 413


class InternalServerError(GridError):
    code = "InternalServerError"
    http_status = 500
    retryable = True


class ServiceUnavailable(GridError):
    code = "ServiceUnavailable"
    http_status = 503
    retryable = True


class PartitionMovedError(GridError):
    """A partition no longer owns the key's hash: refresh the partition map and retry.

    grid's own, never shown to users: the client's retry loop consumes it.
    ``details["map_version"]`` is the partition's view of the map version.
    """

    code = "GridPartitionMoved"
    retryable = True


class PartitionUnavailableError(GridError):
    """A partition actor could not be reached (dead, restarting, or deleted)."""

    code = "GridPartitionUnavailable"
    http_status = 503
    retryable = True


class NotLeaderError(GridError):
    """A replica that does not lead its partition's group was asked to write (or to read consistently).

    grid's own, never shown to users: the caller tries the leader the replica names
    (``details["leader"]``, None while it knows of none) and then the others.
    """

    code = "GridNotLeader"
    http_status = 503
    retryable = True

    @property
    def leader(self) -> str | None:
        leader = self.details.get("leader")
        return leader if isinstance(leader, str) else None


class StaleRouterError(GridError):
    """A partition move sent by a router that has since restarted (grid's own: the restarted router fenced it out)."""

    code = "GridStaleRouter"
    http_status = 409


def error_class_for_code(code: str) -> type[GridError]:
    """The class registered for a DynamoDB error code (``InternalServerError`` if unknown)."""
    return _REGISTRY.get(code, InternalServerError)


def registered_error_codes() -> list[str]:
    return sorted(_REGISTRY)
