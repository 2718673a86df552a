"""A state machine over the API key lifecycle: create, rotate, revoke, time passing, verify."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from erp_professional.security import ApiKeyError, ApiKeys


@dataclass
class Model:
    secret: str
    scopes: frozenset[str]
    expires_at: float | None
    revoked: bool = False


SCOPES = st.frozensets(st.sampled_from(["read", "write", "admin"]), max_size=3)


class ApiKeyLifecycle(RuleBasedStateMachine):
    keys = Bundle("keys")

    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000_000.0
        self.manager = ApiKeys(pepper="m" * 40, clock=lambda: self.now)
        self.model: dict[str, Model] = {}

    def active(self, model: Model) -> bool:
        return not model.revoked and (model.expires_at is None or self.now < model.expires_at)

    @rule(target=keys, scopes=SCOPES, expires_in=st.none() | st.integers(1, 10_000))
    def create(self, scopes: frozenset[str], expires_in: int | None) -> str:
        made = self.manager.create("k", scopes, expires_in=expires_in)
        expires = None if expires_in is None else self.now + expires_in
        self.model[made.record.id] = Model(made.secret, scopes, expires)
        return made.record.id

    @rule(target=keys, key_id=keys, overlap=st.integers(0, 5_000))
    def rotate(self, key_id: str, overlap: int) -> str:
        old = self.model[key_id]
        if not self.active(old):
            with pytest.raises(ApiKeyError):
                self.manager.rotate(key_id, overlap=overlap)
            return key_id
        made = self.manager.rotate(key_id, overlap=overlap)
        end = self.now + overlap
        if old.expires_at is None or end < old.expires_at:
            old.expires_at = end
        self.model[made.record.id] = Model(made.secret, old.scopes, None)
        return made.record.id

    @rule(key_id=keys)
    def revoke(self, key_id: str) -> None:
        self.manager.revoke(key_id)
        self.model[key_id].revoked = True

    @rule(seconds=st.integers(0, 4_000))
    def advance(self, seconds: int) -> None:
        self.now += seconds

    @rule(key_id=keys, wanted=SCOPES)
    def verify(self, key_id: str, wanted: frozenset[str]) -> None:
        model = self.model[key_id]
        if not self.active(model):
            with pytest.raises(ApiKeyError) as info:
                self.manager.verify(model.secret, wanted)
            assert info.value.status == 401
        elif not wanted <= model.scopes:
            with pytest.raises(ApiKeyError) as info:
                self.manager.verify(model.secret, wanted)
            assert info.value.status == 403
        else:
            assert self.manager.verify(model.secret, wanted).id == key_id

    @invariant()
    def listing_matches(self) -> None:
        listed = {r.id: r for r in self.manager.list()}
        assert set(listed) == set(self.model)
        for key_id, model in self.model.items():
            assert listed[key_id].active(self.now) == self.active(model)


ApiKeyLifecycle.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestApiKeyLifecycle = ApiKeyLifecycle.TestCase
