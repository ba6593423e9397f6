"""grid's error hierarchy (``grid/errors.py``): codes, registry, responses, pickling."""

from __future__ import annotations

import pickle
from decimal import Decimal

import cloudpickle
import pytest

from grid import errors
from grid.errors import (
    ClientError,
    ConditionalCheckFailedException,
    GridError,
    InternalServerError,
    PartitionMovedError,
    TransactionCanceledException,
    ValidationException,
    error_class_for_code,
    registered_error_codes,
)

CODES = registered_error_codes()
GRID_OWN_CODES = {"GridNotLeader", "GridPartitionMoved", "GridPartitionUnavailable", "GridStaleRouter"}
DYNAMODB_CODES = [code for code in CODES if code not in GRID_OWN_CODES]


def test_registry_holds_dynamodbs_codes_and_grids_own() -> None:
    assert CODES == sorted(CODES)
    assert set(CODES) >= {
        "ValidationException",
        "ConditionalCheckFailedException",
        "ResourceNotFoundException",
        "ResourceInUseException",
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "TransactionCanceledException",
        "InternalServerError",
    }
    assert set(CODES) >= GRID_OWN_CODES
    public = {getattr(errors, name) for name in errors.__all__ if isinstance(getattr(errors, name), type)}
    assert {error_class_for_code(code) for code in CODES} <= public


@pytest.mark.parametrize("code", CODES)
def test_registry_maps_each_code_to_its_class(code: str) -> None:
    cls = error_class_for_code(code)
    assert issubclass(cls, ClientError)
    assert cls.code == code


@pytest.mark.parametrize("code", DYNAMODB_CODES)
def test_dynamodb_errors_are_named_after_their_code(code: str) -> None:
    cls = error_class_for_code(code)
    assert cls.__name__ == code
    assert cls("boom").response["Error"]["Code"] == cls.__name__


def test_unknown_codes_map_to_internal_server_error() -> None:
    assert error_class_for_code("NoSuchCode") is InternalServerError


def test_a_code_cannot_be_registered_twice() -> None:
    with pytest.raises(TypeError, match="registered twice"):
        type("AnotherValidation", (GridError,), {"code": "ValidationException"})
    assert error_class_for_code("ValidationException") is ValidationException


def test_a_class_that_only_wraps_an_error_registers_nothing() -> None:
    """Ray derives a class from an actor's error and its own RayTaskError; that must work."""

    class Wrapper(Exception):
        pass

    wrapped = type("RayTaskError(ValidationException)", (Wrapper, ValidationException), {})
    assert issubclass(wrapped, ValidationException) and wrapped.code == "ValidationException"
    assert error_class_for_code("ValidationException") is ValidationException


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
@pytest.mark.parametrize("code", CODES)
def test_every_error_pickles_intact(code: str, dumps: object) -> None:
    cls = error_class_for_code(code)
    error = cls("The message", map_version=7, reason={"nested": [Decimal("1.5")]})
    clone = pickle.loads(dumps(error))  # type: ignore[operator]
    assert type(clone) is cls
    assert clone.message == "The message"
    assert clone.details == {"map_version": 7, "reason": {"nested": [Decimal("1.5")]}}
    assert clone.response == error.response
    assert str(clone) == str(error)
    assert clone.args == error.args


@pytest.mark.parametrize("code", CODES)
def test_response_is_shaped_like_botocores(code: str) -> None:
    cls = error_class_for_code(code)
    response = cls("Something went wrong").response
    assert response["Error"] == {"Code": code, "Message": "Something went wrong"}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == cls.http_status
    assert str(cls("Something went wrong")) == f"An error occurred ({code}): Something went wrong"


def test_conditional_check_failed_keeps_the_item_across_pickling() -> None:
    item = {"customer_id": Decimal(207808519), "sku": "207808519/C00K2DG90", "version": Decimal(2)}
    error = ConditionalCheckFailedException("The conditional request failed", item=item)
    clone = pickle.loads(pickle.dumps(error))
    assert clone.item == item
    assert clone.response["Item"] == item
    assert clone.response["Error"]["Code"] == "ConditionalCheckFailedException"
    without = pickle.loads(pickle.dumps(ConditionalCheckFailedException("The conditional request failed")))
    assert without.item is None
    assert "Item" not in without.response


def test_transaction_canceled_keeps_its_reasons() -> None:
    reasons = [{"Code": "None"}, {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}]
    error = TransactionCanceledException("Transaction cancelled", cancellation_reasons=reasons)
    clone = pickle.loads(pickle.dumps(error))
    assert clone.cancellation_reasons == reasons
    assert clone.response["CancellationReasons"] == reasons


@pytest.mark.parametrize(
    "code",
    [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "GridPartitionMoved",
        "GridPartitionUnavailable",
    ],
)
def test_throttling_and_internal_errors_are_retryable(code: str) -> None:
    assert error_class_for_code(code).retryable is True


@pytest.mark.parametrize(
    "code",
    [
        "ValidationException",
        "ConditionalCheckFailedException",
        "ResourceNotFoundException",
        "ResourceInUseException",
        "TransactionCanceledException",
        "ItemCollectionSizeLimitExceededException",
    ],
)
def test_client_errors_are_not_retryable(code: str) -> None:
    assert error_class_for_code(code).retryable is False


def test_server_errors_answer_with_5xx() -> None:
    assert error_class_for_code("InternalServerError").http_status == 500
    assert error_class_for_code("ServiceUnavailable").http_status == 503
    assert ValidationException.http_status == 400


def test_client_error_is_the_base_of_everything() -> None:
    assert ClientError is GridError
    for code in CODES:
        assert issubclass(error_class_for_code(code), ClientError)
    assert issubclass(ClientError, Exception)
    with pytest.raises(ClientError) as caught:
        raise PartitionMovedError("moved", map_version=3)
    assert caught.value.details["map_version"] == 3
    assert caught.value.response["Error"]["Code"] == "GridPartitionMoved"
