import multiprocessing
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


def _child_ids(queue: "multiprocessing.Queue[list[str]]") -> None:
    queue.put([new_request_id() for _ in range(5)])


def test_forked_workers_do_not_repeat_each_others_ids() -> None:
    new_request_id()  # the parent's generator state before the fork
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[list[str]] = ctx.Queue()
    children = [ctx.Process(target=_child_ids, args=(queue,)) for _ in range(2)]
    for child in children:
        child.start()
    first, second = queue.get(timeout=20), queue.get(timeout=20)
    for child in children:
        child.join(20)
    assert not set(first) & set(second)
