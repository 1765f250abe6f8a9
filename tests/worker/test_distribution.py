"""naq-worker installs as a distribution of its own: version, exact internal pins, namespace."""

from harness.distributions import assert_naq_distribution


def test_naq_worker_distribution() -> None:
    assert_naq_distribution("naq-worker", "naq.worker")
