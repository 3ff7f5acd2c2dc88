"""Resource class sizes and what a machine can offer."""

from rondo.domain.resource_classes import fitting, size_of


def test_a_machine_offers_the_resource_classes_it_can_hold() -> None:
    assert fitting(2, 24 * 1024) == ["small", "medium"]
    assert fitting(8, 16384) == ["small", "medium", "medium+", "large", "xlarge"]
    assert fitting(0.5, 512) == []
    assert size_of("acme/runner") == size_of("medium")
