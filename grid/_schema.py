"""Table definitions: ``create_table``'s and ``update_table``'s parameters, validated, and their description.

The client validates DynamoDB's parameters here, so bad input fails before any actor
call, and sends the router typed specs (``TableSpec``, ``TableUpdate``); the router
keeps a ``TableSpec`` per table and checks only what depends on the table's state.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from grid._keys import KEY_TYPES, KeySchema
from grid._messages import describe_value
from grid._operations import check_request
from grid.errors import ValidationException

__all__ = [
    "STREAM_VIEW_TYPES",
    "GridSettings",
    "StreamSpecification",
    "TableSpec",
    "TableUpdate",
    "billing_settings",
    "check_table_name",
]

_TABLE_NAME = re.compile(r"^[a-zA-Z0-9_.-]{3,255}$")
DEFAULT_PARTITIONS = 4
MAX_PARTITIONS = 256
DEFAULT_REPLICAS = 3
MAX_REPLICAS = 7
BILLING_MODES = ("PROVISIONED", "PAY_PER_REQUEST")


def check_table_name(name: Any) -> str:
    if not isinstance(name, str) or not _TABLE_NAME.match(name):
        raise ValidationException(
            f"1 validation error detected: Value '{describe_value(name)}' at 'tableName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 3 and 255"
        )
    return name


def _positive_number(params: Mapping[str, Any], name: str, default: Any, kind: type, low: Any, high: Any) -> Any:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
        raise ValidationException(f"GridSettings.{name} must be a {kind.__name__} from {low} to {high}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class GridSettings:
    """grid's own table settings, beyond DynamoDB's (``GridSettings={...}`` in create_table).

    ``StreamRetentionSeconds`` (24 hours by default, as DynamoDB) and
    ``StreamRetentionRecords`` (per partition) bound how much change history a
    partition keeps while the table has a stream; whichever trims first wins.
    """

    partitions: int = DEFAULT_PARTITIONS
    stream_retention_seconds: float = 24 * 3600.0
    stream_retention_records: int = 1_000_000
    time_scale: float = 1.0  # auto scaling's policy clock runs this many times faster
    # A partition past any of these limits splits (DynamoDB's per-partition limits by default).
    max_partition_bytes: int = 10 * 1024**3
    max_partition_read_units: float = 3000.0
    max_partition_write_units: float = 1000.0
    # CPUs each partition actor asks Ray for. 0 fits any machine; a fraction on a cluster
    # with Ray's autoscaler makes a table that outgrows its nodes ask for more of them.
    partition_cpus: float = 0.0
    # Replicas of each partition (DynamoDB keeps 3): a write is acknowledged once a majority
    # holds it, so a partition loses nothing acknowledged while a majority lives. 1 keeps
    # one copy (a cache); an even number tolerates no more deaths than the odd number below it.
    replicas: int = DEFAULT_REPLICAS

    @classmethod
    def from_params(cls, params: Any) -> GridSettings:
        if params is None:
            return cls()
        if not isinstance(params, Mapping):
            raise ValidationException("GridSettings must be a map")
        unknown = set(params) - {
            "Partitions",
            "StreamRetentionSeconds",
            "StreamRetentionRecords",
            "TimeScale",
            "MaxPartitionBytes",
            "MaxPartitionReadUnits",
            "MaxPartitionWriteUnits",
            "PartitionCpus",
            "Replicas",
        }
        if unknown:
            raise ValidationException(f"Unknown GridSettings: {', '.join(sorted(map(str, unknown)))}")
        return cls(
            partitions=_positive_number(params, "Partitions", DEFAULT_PARTITIONS, int, 1, MAX_PARTITIONS),
            stream_retention_seconds=float(
                _positive_number(params, "StreamRetentionSeconds", 24 * 3600.0, (int, float), 1, 7 * 24 * 3600)  # type: ignore[arg-type]
            ),
            stream_retention_records=_positive_number(
                params, "StreamRetentionRecords", 1_000_000, int, 100, 100_000_000
            ),
            time_scale=float(_positive_number(params, "TimeScale", 1.0, (int, float), 1, 100_000)),  # type: ignore[arg-type]
            max_partition_bytes=_positive_number(params, "MaxPartitionBytes", 10 * 1024**3, int, 1024, 1 << 50),
            max_partition_read_units=float(
                _positive_number(params, "MaxPartitionReadUnits", 3000.0, (int, float), 1, 1e9)  # type: ignore[arg-type]
            ),
            partition_cpus=float(_positive_number(params, "PartitionCpus", 0.0, (int, float), 0, 64)),  # type: ignore[arg-type]
            max_partition_write_units=float(
                _positive_number(params, "MaxPartitionWriteUnits", 1000.0, (int, float), 1, 1e9)  # type: ignore[arg-type]
            ),
            replicas=_positive_number(params, "Replicas", DEFAULT_REPLICAS, int, 1, MAX_REPLICAS),
        )

    def updated(self, partitions: int | None, time_scale: float | None) -> GridSettings:
        """These settings with what ``update_table`` may change online."""
        changed = self
        if partitions is not None:
            changed = replace(changed, partitions=partitions)
        if time_scale is not None:
            changed = replace(changed, time_scale=time_scale)
        return changed

    def describe(self) -> dict[str, Any]:
        return {
            "Partitions": self.partitions,
            "StreamRetentionSeconds": self.stream_retention_seconds,
            "StreamRetentionRecords": self.stream_retention_records,
            "TimeScale": self.time_scale,
            "MaxPartitionBytes": self.max_partition_bytes,
            "MaxPartitionReadUnits": self.max_partition_read_units,
            "MaxPartitionWriteUnits": self.max_partition_write_units,
            "PartitionCpus": self.partition_cpus,
            "Replicas": self.replicas,
        }


STREAM_VIEW_TYPES = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamSpecification:
    """DynamoDB's ``StreamSpecification``: whether the table has a stream, and what its records hold."""

    enabled: bool
    view_type: str | None = None

    @classmethod
    def from_params(cls, raw: Any) -> StreamSpecification:
        if not isinstance(raw, Mapping) or "StreamEnabled" not in raw or set(raw) - {"StreamEnabled", "StreamViewType"}:
            raise ValidationException("StreamSpecification must be a map with StreamEnabled and StreamViewType")
        enabled, view_type = raw["StreamEnabled"], raw.get("StreamViewType")
        if not isinstance(enabled, bool):
            raise ValidationException("StreamSpecification.StreamEnabled must be a boolean")
        if enabled and view_type not in STREAM_VIEW_TYPES:
            raise ValidationException(
                "1 validation error detected: Value at 'streamSpecification.streamViewType' failed to satisfy "
                f"constraint: Member must satisfy enum value set: [{', '.join(STREAM_VIEW_TYPES)}]"
            )
        return cls(enabled=enabled, view_type=view_type if enabled else None)

    def describe(self) -> dict[str, Any]:
        if not self.enabled:
            return {"StreamEnabled": False}
        return {"StreamEnabled": True, "StreamViewType": self.view_type}


@dataclass(frozen=True, slots=True, kw_only=True)
class TableSpec:
    """A table as created: name, key schema, billing, and grid's settings."""

    name: str
    key_schema: KeySchema
    attribute_definitions: tuple[tuple[str, str], ...]
    billing_mode: str
    provisioned_throughput: tuple[int, int] | None
    grid_settings: GridSettings
    table_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @classmethod
    def from_create_params(cls, params: Mapping[str, Any]) -> TableSpec:
        """Validate ``create_table``'s keyword arguments as DynamoDB does."""
        check_request("CreateTable", params)
        name = check_table_name(params.get("TableName"))
        definitions = _attribute_definitions(params.get("AttributeDefinitions"))
        key_schema = _key_schema(params.get("KeySchema"), definitions)
        if len(definitions) != len(key_schema.names):
            raise ValidationException(
                "One or more parameter values were invalid: Number of attributes in KeySchema does not "
                "exactly match number of attributes defined in AttributeDefinitions"
            )
        billing_mode, throughput = billing_settings(params.get("BillingMode"), params.get("ProvisionedThroughput"))
        if params.get("StreamSpecification") is not None:
            StreamSpecification.from_params(params["StreamSpecification"])  # the router keeps the stream
        return cls(
            name=name,
            key_schema=key_schema,
            attribute_definitions=tuple(definitions.items()),
            billing_mode=billing_mode,
            provisioned_throughput=throughput,
            grid_settings=GridSettings.from_params(params.get("GridSettings")),
        )

    @property
    def arn(self) -> str:
        return f"arn:grid:dynamodb:local:000000000000:table/{self.name}"

    def describe(
        self, *, status: str, item_count: int = 0, size_bytes: int = 0, partitions: int | None = None
    ) -> dict[str, Any]:
        """The ``Table`` part of ``describe_table``'s answer."""
        key_schema = [{"AttributeName": self.key_schema.hash_name, "KeyType": "HASH"}]
        if self.key_schema.range_name is not None:
            key_schema.append({"AttributeName": self.key_schema.range_name, "KeyType": "RANGE"})
        read, write = self.provisioned_throughput or (0, 0)
        description: dict[str, Any] = {
            "TableName": self.name,
            "TableId": self.table_id,
            "TableArn": self.arn,
            "KeySchema": key_schema,
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in self.attribute_definitions],
            "TableStatus": status,
            "CreationDateTime": self.created_at,
            "ItemCount": item_count,
            "TableSizeBytes": size_bytes,
            "BillingModeSummary": {"BillingMode": self.billing_mode},
            "ProvisionedThroughput": {
                "ReadCapacityUnits": read,
                "WriteCapacityUnits": write,
                "NumberOfDecreasesToday": 0,
            },
            "GridSettings": {
                **self.grid_settings.describe(),
                "Partitions": partitions or self.grid_settings.partitions,
            },
        }
        return description


def _attribute_definitions(raw: Any) -> dict[str, str]:
    if not isinstance(raw, list) or not raw:
        raise ValidationException("AttributeDefinitions must be a non-empty list")
    definitions: dict[str, str] = {}
    for entry in raw:
        if not isinstance(entry, Mapping) or set(entry) != {"AttributeName", "AttributeType"}:
            raise ValidationException("Each attribute definition needs AttributeName and AttributeType")
        name, kind = entry["AttributeName"], entry["AttributeType"]
        if not isinstance(name, str) or not name:
            raise ValidationException("AttributeName must be a non-empty string")
        if kind not in KEY_TYPES:
            raise ValidationException(
                f"1 validation error detected: Value '{describe_value(kind)}' at 'attributeDefinitions.member.attributeType' "
                "failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]"
            )
        if name in definitions:
            raise ValidationException("Cannot have two attributes with the same name in AttributeDefinitions")
        definitions[name] = kind
    return definitions


def _key_schema(raw: Any, definitions: dict[str, str]) -> KeySchema:
    if not isinstance(raw, list) or not 1 <= len(raw) <= 2:
        raise ValidationException("KeySchema must have one HASH key and at most one RANGE key")
    by_type: dict[str, str] = {}
    for entry in raw:
        if not isinstance(entry, Mapping) or set(entry) != {"AttributeName", "KeyType"}:
            raise ValidationException("Each KeySchema element needs AttributeName and KeyType")
        key_type = entry["KeyType"]
        if key_type not in ("HASH", "RANGE") or key_type in by_type:
            raise ValidationException(
                "Invalid KeySchema: Some index key attribute have no definition or duplicate key types"
            )
        by_type[key_type] = entry["AttributeName"]
    if "HASH" not in by_type or raw[0]["KeyType"] != "HASH":
        raise ValidationException("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    for name in by_type.values():
        if name not in definitions:
            raise ValidationException(
                "One or more parameter values were invalid: Some index key attributes are not defined "
                f"in AttributeDefinitions. Keys: [{name}], AttributeDefinitions: [{', '.join(definitions)}]"
            )
    hash_name, range_name = by_type["HASH"], by_type.get("RANGE")
    if range_name == hash_name:
        raise ValidationException("Invalid KeySchema: the HASH and RANGE keys must differ")
    return KeySchema(
        hash_name=hash_name,
        hash_type=definitions[hash_name],
        range_name=range_name,
        range_type=definitions[range_name] if range_name else None,
    )


def billing_settings(mode: Any, throughput: Any) -> tuple[str, tuple[int, int] | None]:
    mode = mode or "PROVISIONED"
    if mode not in BILLING_MODES:
        raise ValidationException(
            f"1 validation error detected: Value '{describe_value(mode)}' at 'billingMode' failed to satisfy constraint: "
            "Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
        )
    if mode == "PAY_PER_REQUEST":
        if throughput is not None:
            raise ValidationException(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits "
                "can be specified when BillingMode is PAY_PER_REQUEST"
            )
        return mode, None
    if not isinstance(throughput, Mapping):
        raise ValidationException(
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both "
            "be specified when BillingMode is PROVISIONED"
        )
    read, write = throughput.get("ReadCapacityUnits"), throughput.get("WriteCapacityUnits")
    for units in (read, write):
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:  # also refuses None
            raise ValidationException(
                "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must "
                "both be positive integers"
            )
    assert isinstance(read, int) and isinstance(write, int)
    return mode, (read, write)


@dataclass(frozen=True, slots=True, kw_only=True)
class TableUpdate:
    """``update_table``'s parameters, validated: what to change (None: leave as it is).

    ``billing_mode`` and ``provisioned_throughput`` are combined with the table's
    current settings by the router (``billing_settings``), which alone knows them.
    """

    stream: StreamSpecification | None = None
    billing_mode: str | None = None
    provisioned_throughput: Mapping[str, Any] | None = None
    partitions: int | None = None
    time_scale: float | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TableUpdate:
        stream = params.get("StreamSpecification")
        mode = params.get("BillingMode")
        if mode is not None and mode not in BILLING_MODES:
            raise ValidationException(
                f"1 validation error detected: Value '{describe_value(mode)}' at 'billingMode' failed to satisfy "
                "constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
            )
        throughput = params.get("ProvisionedThroughput")
        if throughput is not None and not isinstance(throughput, Mapping):
            raise ValidationException("ProvisionedThroughput must be a map of ReadCapacityUnits and WriteCapacityUnits")
        partitions = time_scale = None
        raw = params.get("GridSettings")
        if raw is not None:
            if not isinstance(raw, Mapping) or set(raw) - {"Partitions", "TimeScale"}:
                raise ValidationException("update_table's GridSettings takes Partitions and TimeScale")
            if "Partitions" in raw:
                partitions = _positive_number(raw, "Partitions", DEFAULT_PARTITIONS, int, 1, MAX_PARTITIONS)
            if "TimeScale" in raw:
                time_scale = float(_positive_number(raw, "TimeScale", 1.0, (int, float), 1, 100_000))  # type: ignore[arg-type]
        return cls(
            stream=StreamSpecification.from_params(stream) if stream is not None else None,
            billing_mode=mode,
            provisioned_throughput=throughput,
            partitions=partitions,
            time_scale=time_scale,
        )

    @property
    def changes_billing(self) -> bool:
        return self.billing_mode is not None or self.provisioned_throughput is not None
