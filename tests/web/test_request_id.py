import re

from hypothesis import given, settings
from hypothesis import strategies as st

from erp_professional.web import is_valid_request_id, new_request_id

VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_validation_matches_the_documented_alphabet(value: str) -> None:
    assert is_valid_request_id(value) == (VALID.fullmatch(value) is not None)


def test_generated_ids_are_valid_and_unique() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(is_valid_request_id(i) for i in ids)
