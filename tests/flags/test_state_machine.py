"""Random sequences of changes keep FeatureFlags equal to a plain model."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from erp_professional.flags import AuditRecord, FeatureFlags, FlagDefinitionError

NAMES = st.sampled_from(["a", "b", "c", "ünï", "d.e"])
USERS = st.sampled_from(["u1", "u2", "u3"])


class Changes(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.flags = FeatureFlags()
        self.audits: list[AuditRecord] = []
        self.flags.on_audit(self.audits.append)
        # model: name -> (enabled, users or None for everyone)
        self.model: dict[str, tuple[bool, frozenset[str] | None]] = {}
        self.expected_audits = 0

    @rule(name=NAMES, enabled=st.booleans(), users=st.none() | st.frozensets(USERS, min_size=1))
    def set_flag(self, name: str, enabled: bool, users: frozenset[str] | None) -> None:
        spec: dict[str, object] = {"enabled": enabled}
        if users is not None:
            spec["users"] = sorted(users)
        self.flags.set_flag(name, spec, actor="test")
        self.model[name] = (enabled, users)
        self.expected_audits += 1

    @rule(name=NAMES)
    def delete_flag(self, name: str) -> None:
        existed = self.flags.delete_flag(name)
        assert existed == (name in self.model)
        self.model.pop(name, None)
        self.expected_audits += 1

    @rule(name=NAMES)
    def kill(self, name: str) -> None:
        if name in self.model:
            self.flags.kill(name)
            self.model[name] = (False, self.model[name][1])
            self.expected_audits += 1

    @rule(name=NAMES, rollout=st.integers(min_value=101, max_value=1000))
    def invalid_change_is_refused(self, name: str, rollout: int) -> None:
        try:
            self.flags.set_flag(name, {"rollout": rollout})
        except FlagDefinitionError:
            return
        raise AssertionError("an invalid rollout was accepted")

    @rule(name=NAMES)
    def unleash_update(self, name: str) -> None:
        self.flags.apply_unleash_events(
            [{"type": "feature-updated", "feature": {"name": name, "enabled": True}}]
        )
        self.model[name] = (True, None)
        self.expected_audits += 1

    @invariant()
    def matches_model(self) -> None:
        assert sorted(f.name for f in self.flags.list_flags()) == sorted(self.model)
        for name, (enabled, users) in self.model.items():
            for user in ("u1", "u2", "u3"):
                expected = enabled and (users is None or user in users)
                assert self.flags.is_enabled(name, {"userId": user}) is expected
        assert len(self.audits) == self.expected_audits


Changes.TestCase.settings = settings(max_examples=50, stateful_step_count=25, deadline=None)
TestChanges = Changes.TestCase
