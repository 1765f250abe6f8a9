"""naq-client installs as a distribution of its own: version, exact internal pins, namespace."""

from harness.distributions import assert_naq_distribution


def test_naq_client_distribution() -> None:
    assert_naq_distribution("naq-client", "naq.client")
