"""Skip the SDK's payload walks over workflow activations when they cannot change a thing.

Before each workflow activation runs and after it completes, temporalio walks every
payload in it, in Python, three times each way: for a payload codec (encryption,
compression), for external payload storage, and for storage references. This project
configures neither (journeys/storage/temporal.py: the pydantic converter, no codec), so
each walk copies every payload list into itself and changes nothing; in the 30-day
journey test they were a fifth of the worker's CPU. ``skip_needless_payload_walks()``
makes the two module functions the worker calls return at once for a data converter
with no codec and no external storage, and leave every other converter to the SDK.
Payloads are still converted to and from values where the workflow reads them.

The walk it skips also refuses a payload stored externally when no external storage is
configured; none of this project's clients writes one.
"""

from __future__ import annotations

import inspect
from typing import Any

import temporalio.bridge.worker as bridge_worker
from temporalio.converter import DataConverter
from temporalio.converter._extstore import StorageOperationMetrics

# The SDK functions replaced, and the parameters they are called with (checked: a
# temporalio release that changes them keeps its own walks).
_REPLACED = {
    "decode_activation": ["activation", "data_converter", "decode_headers", "storage_concurrency_limit"],
    "encode_completion": ["completion", "data_converter", "encode_headers", "storage_concurrency_limit"],
}


def walks_needed(converter: DataConverter) -> bool:
    """True if the walk could change a payload: a codec or external storage is set."""
    return converter.payload_codec is not None or getattr(converter, "external_storage", None) is not None


def _skipping(original: Any) -> Any:
    async def walk_if_needed(message: Any, data_converter: DataConverter, *args: Any, **kwargs: Any) -> Any:
        if walks_needed(data_converter):
            return await original(message, data_converter, *args, **kwargs)
        return StorageOperationMetrics()  # nothing fetched or stored

    walk_if_needed.skips_needless_walks = True  # type: ignore[attr-defined]
    walk_if_needed.original = original  # type: ignore[attr-defined]
    return walk_if_needed


def skip_needless_payload_walks() -> bool:
    """Install the skip (idempotent); False if this temporalio's functions are not the
    ones it was written for, and nothing was changed."""
    current = {name: getattr(bridge_worker, name, None) for name in _REPLACED}
    if all(getattr(fn, "skips_needless_walks", False) for fn in current.values()):
        return True
    for name, params in _REPLACED.items():
        fn = current[name]
        if fn is None or list(inspect.signature(fn).parameters) != params:
            return False
    for name, fn in current.items():
        setattr(bridge_worker, name, _skipping(fn))
    return True
