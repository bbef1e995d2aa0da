"""An application's endpoints, stored compactly, and the snapshots export jobs take of them.

Standard library only. Seeded demo endpoints are not stored as dicts: a :class:`DemoBlock` keeps
their ids and rebuilds each endpoint (or its exported JSON line) from its index, so a million of
them take about a hundred megabytes. Endpoints written through the API are kept as dicts; one that
replaces a seeded endpoint keeps the seeded one's place, as a dict key would.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

EXPORT_FIELDS = (
    "Id",
    "ChannelType",
    "Address",
    "EndpointStatus",
    "OptOut",
    "EffectiveDate",
    "Attributes",
    "Metrics",
    "User",
    "Location",
    "Demographic",
    "ApplicationId",
    "CreationDate",
)
"""Endpoint fields written to export files, in this order, when present on the endpoint."""

GZIP_LEVEL = 6
"""Compression level of export pieces."""

_PLATFORMS = {"APNS": "ios", "APNS_SANDBOX": "ios", "GCM": "android", "ADM": "android", "BAIDU": "android"}
_LOCATION = {
    "City": "Seattle",
    "Country": "US",
    "PostalCode": "98101",
    "Region": "WA",
    "Latitude": 47.61,
    "Longitude": -122.33,
}
_COMPACT = (",", ":")


def demo_endpoint(endpoint_id: str, i: int, channel_type: str) -> dict[str, Any]:
    """A realistic, deterministic endpoint definition for seeding (the ``i``-th of its block)."""
    return {
        "Id": endpoint_id,
        "ChannelType": channel_type,
        "Address": _demo_address(i, channel_type),
        "Attributes": {"Plan": ["pro" if i % 3 == 0 else "free"], "Interests": ["news", f"topic-{i % 7}"]},
        "Metrics": {"sessions": float(i % 17), "purchases": float(i % 5)},
        "User": {"UserId": f"user-{i:05d}", "UserAttributes": {"Tier": ["gold" if i % 2 else "silver"]}},
        "Location": dict(_LOCATION),
        "Demographic": {
            "Locale": "en_US",
            "Platform": _PLATFORMS.get(channel_type, "web"),
            "Timezone": "America/Los_Angeles",
            "AppVersion": f"1.{i % 4}.0",
        },
    }


def _demo_address(i: int, channel_type: str) -> str:
    if channel_type == "EMAIL":
        return f"user{i:05d}@example.com"
    if channel_type in ("SMS", "VOICE"):
        return f"+1555{i:07d}"
    return hashlib.sha256(f"device-{i}".encode()).hexdigest()


def export_line(endpoint: Mapping[str, Any]) -> str:
    """An endpoint as one line of an export file (no newline)."""
    return json.dumps({key: endpoint[key] for key in EXPORT_FIELDS if key in endpoint}, separators=_COMPACT)


def encode_piece(lines: Sequence[str]) -> bytes:
    """Export lines as one gzip piece of newline-delimited JSON."""
    text = "\n".join(lines) + "\n" if lines else ""
    return gzip.compress(text.encode("utf-8"), compresslevel=GZIP_LEVEL, mtime=0)


class DemoBlock:
    """Seeded demo endpoints of one application: ids in order, the rest rebuilt from the index.

    :param application_id: The application.
    :param ids: The endpoint ids, in creation order.
    :param channel_types: Channel types taken round-robin.
    :param now: CreationDate and EffectiveDate of every endpoint.
    """

    def __init__(
        self, application_id: str, ids: Sequence[str], channel_types: Sequence[str], now: str
    ) -> None:
        self.application_id = application_id
        self.ids = ids
        self.channel_types = tuple(channel_types)
        self.now = now
        self._index: dict[str, int] | None = None
        self._index_lock = threading.Lock()
        dump = json.dumps
        self._heads = [f'","ChannelType":{dump(c)},"Address":"' for c in self.channel_types]
        self._platforms = [dump(_PLATFORMS.get(c, "web")) for c in self.channel_types]
        self._middle = (
            f'","EndpointStatus":"ACTIVE","OptOut":"NONE","EffectiveDate":{dump(now)},"Attributes":'
        )
        self._location = dump(_LOCATION, separators=_COMPACT)
        self._tail = f',"ApplicationId":{dump(application_id)},"CreationDate":{dump(now)}}}'

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self, endpoint_id: str) -> int | None:
        """The position of ``endpoint_id`` in the block, or ``None`` (the lookup is built on first use)."""
        with self._index_lock:
            if self._index is None:
                self._index = {endpoint_id: i for i, endpoint_id in enumerate(self.ids)}
            return self._index.get(endpoint_id)

    def endpoint(self, i: int) -> dict[str, Any]:
        """The ``i``-th endpoint as a stored definition."""
        endpoint = {
            "ApplicationId": self.application_id,
            "Id": self.ids[i],
            "CreationDate": self.now,
            "EndpointStatus": "ACTIVE",
            "OptOut": "NONE",
            "EffectiveDate": self.now,
        }
        endpoint.update(demo_endpoint(self.ids[i], i, self.channel_types[i % len(self.channel_types)]))
        return endpoint

    def line(self, i: int) -> str:
        """``export_line(self.endpoint(i))``, built without the dict."""
        kind = i % len(self.channel_types)
        plan = "pro" if i % 3 == 0 else "free"
        tier = "gold" if i % 2 else "silver"
        return (
            f'{{"Id":"{self.ids[i]}{self._heads[kind]}{_demo_address(i, self.channel_types[kind])}'
            f'{self._middle}{{"Plan":["{plan}"],"Interests":["news","topic-{i % 7}"]}},'
            f'"Metrics":{{"sessions":{i % 17}.0,"purchases":{i % 5}.0}},'
            f'"User":{{"UserId":"user-{i:05d}","UserAttributes":{{"Tier":["{tier}"]}}}},'
            f'"Location":{self._location},"Demographic":{{"Locale":"en_US","Platform":{self._platforms[kind]},'
            f'"Timezone":"America/Los_Angeles","AppVersion":"1.{i % 4}.0"}}{self._tail}'
        )


class EndpointTable:
    """An application's endpoints in creation order: a seeded :class:`DemoBlock`, then dicts."""

    def __init__(self) -> None:
        self._block: DemoBlock | None = None
        self._replaced: dict[str, dict[str, Any]] = {}  # seeded endpoints written since
        self._added: dict[str, dict[str, Any]] = {}  # endpoints outside the block, in order

    def __len__(self) -> int:
        return (len(self._block) if self._block else 0) + len(self._added)

    def seed(self, block: DemoBlock) -> None:
        """Hold ``block`` (the table must be empty)."""
        if len(self):
            raise ValueError("Demo endpoints go into an application without endpoints")
        self._block = block

    def get(self, endpoint_id: str) -> dict[str, Any] | None:
        """The stored endpoint (treat it as read-only), or ``None``."""
        found = self._added.get(endpoint_id) or self._replaced.get(endpoint_id)
        if found is None and self._block is not None:
            i = self._block.index_of(endpoint_id)
            if i is not None:
                found = self._block.endpoint(i)
        return found

    def put(self, endpoint_id: str, endpoint: dict[str, Any]) -> None:
        """Store ``endpoint`` (never mutated afterwards: snapshots keep references to it)."""
        if self._block is not None and self._block.index_of(endpoint_id) is not None:
            self._replaced[endpoint_id] = endpoint
        else:
            self._added[endpoint_id] = endpoint

    def snapshot(self) -> EndpointSnapshot:
        """The endpoints as they are now (later writes do not show in it)."""
        return EndpointSnapshot(self._block, dict(self._replaced), list(self._added.values()))


class EndpointSnapshot:
    """The endpoints an export job exports: fixed at its creation, optionally a selection."""

    def __init__(
        self,
        block: DemoBlock | None = None,
        replaced: Mapping[str, dict[str, Any]] | None = None,
        added: Sequence[dict[str, Any]] = (),
        positions: array[int] | None = None,
    ) -> None:
        self._block = block
        self._seeded = len(block) if block else 0
        self._replaced = replaced or {}
        self._added = added
        self._positions = positions

    def __len__(self) -> int:
        if self._positions is not None:
            return len(self._positions)
        return self._seeded + len(self._added)

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        for position in self._each_position(0, len(self)):
            yield self._endpoint(position)

    def select(self, keep: Callable[[Mapping[str, Any]], bool]) -> EndpointSnapshot:
        """The endpoints for which ``keep`` is true, in the same order."""
        positions = array("q", (p for p in range(self._seeded + len(self._added)) if keep(self._endpoint(p))))
        return EndpointSnapshot(self._block, self._replaced, self._added, positions)

    def lines(self, start: int, stop: int) -> list[str]:
        """Export lines of the endpoints ``start`` to ``stop`` (exclusive)."""
        block = self._block
        lines = []
        for position in self._each_position(start, stop):
            if position < self._seeded:
                assert block is not None
                replaced = self._replaced.get(block.ids[position]) if self._replaced else None
                lines.append(block.line(position) if replaced is None else export_line(replaced))
            else:
                lines.append(export_line(self._added[position - self._seeded]))
        return lines

    def _each_position(self, start: int, stop: int) -> Sequence[int]:
        return range(start, stop) if self._positions is None else self._positions[start:stop]

    def _endpoint(self, position: int) -> Mapping[str, Any]:
        if position < self._seeded:
            assert self._block is not None
            replaced = self._replaced.get(self._block.ids[position])
            return replaced if replaced is not None else self._block.endpoint(position)
        return self._added[position - self._seeded]
