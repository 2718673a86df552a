"""The public surface: every exported name imports, and __all__ lists are sorted."""

import importlib

import pytest

import erp_professional

PACKAGES = [
    "erp_professional",
    "erp_professional.config",
    "erp_professional.connections",
    "erp_professional.web",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_importable(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported)
    for attribute in exported:
        assert getattr(module, attribute) is not None


def test_top_level_names_of_the_design_contract() -> None:
    for name in ["integrate", "Professional", "ProfessionalConfig"]:
        assert name in erp_professional.__all__


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        erp_professional.nope


def test_every_lazy_export_is_listed_and_resolves() -> None:
    exports = erp_professional._EXPORTS
    assert sorted([*exports, "__version__"]) == erp_professional.__all__
    for name, module in exports.items():
        value = getattr(erp_professional, name)
        assert getattr(importlib.import_module(module), name) is value
