"""The public surface of erp_professional.flags."""

from __future__ import annotations

import erp_professional.flags as flags_module


def test_all_is_sorted_and_importable() -> None:
    names = flags_module.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(flags_module, name) is not None
    assert "FeatureFlags" in names and "FeatureFlagsProvider" in names
