"""naq's errors resolve by their wire names where a user imports them (naq.client, naq.worker)."""

from __future__ import annotations

import pytest

import naq.client
import naq.worker
from naq.protocol import errors
from naq.protocol.refs import exception_ref, resolve_ref

NAQ_ERRORS = sorted(
    {c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.NaqError)},
    key=lambda c: c.__name__,
)


@pytest.mark.parametrize("cls", NAQ_ERRORS, ids=lambda c: c.__name__)
def test_a_wire_name_imports_its_class(cls: type[errors.NaqError]) -> None:
    wire = exception_ref(cls)
    assert resolve_ref(wire) is cls
    # A producer with naq-client alone imports every one of them from naq.client.
    assert getattr(naq.client, cls.__name__) is cls


def test_the_worker_errors_are_naq_worker_names() -> None:
    for cls in (naq.worker.JobTimeoutError, naq.worker.WorkerLostError, naq.worker.JobRejectedError):
        assert exception_ref(cls) == f"naq.worker:{cls.__name__}"
        assert cls is getattr(naq.client, cls.__name__)
