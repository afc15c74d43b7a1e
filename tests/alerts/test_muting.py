from datetime import timedelta

import pytest

from alerts.config import load_rules
from alerts.dedup import LogEntry, needs_update
from alerts.inhibit import Inhibitor, group_parent
from alerts.model import AlertState
from alerts.pipeline import (
    ByReceiver,
    DedupStage,
    EnqueueStage,
    Fanout,
    MuteStage,
    NotifyContext,
    Sequence,
    build_pipeline,
    firing_key,
)
from alerts.silences import Matcher, Silence, SilenceError, Silencer, validate_silence
from resilience.core.domain import Level
from tests.alerts.helpers import at, make_alert

RULES = load_rules()


def test_silent_sensor_inhibits_anomaly_alerts_from_that_sensor_only() -> None:
    health = make_alert(
        rule="sensor_silent", hazard="sensor_fault", source_type="health", scope="sensor:s1", level=Level.BLUE
    )
    mine = make_alert(sensor="s1")
    other = make_alert(sensor="s2", asset="a2")
    inhibitor = Inhibitor(RULES.inhibit_rules, [health, mine, other])
    assert inhibitor.inhibited_by(mine.labels) == "silent_sensor_mutes_its_anomalies"
    assert not inhibitor.mutes(other.labels)
    assert not inhibitor.mutes(health.labels)
    # an alert fed by two sensors stays unless both are silent
    two = make_alert(sensor="s1")
    two.sources["k:s3"] = {"level": "yellow", "sensor_id": "s3"}
    assert not inhibitor.mutes(two.labels)
    health3 = make_alert(
        rule="sensor_silent",
        hazard="sensor_fault",
        source_type="health",
        scope="sensor:s3",
        sensor="s3",
        level=Level.BLUE,
    )
    assert Inhibitor(RULES.inhibit_rules, [health, health3]).mutes(two.labels)
    health.state = AlertState.RESOLVED
    assert not Inhibitor(RULES.inhibit_rules, [health, mine]).mutes(mine.labels)


def test_red_inhibits_lower_alerts_for_same_asset_and_hazard_not_itself() -> None:
    red = make_alert(rule="gas_leak", level=Level.RED)
    lower = make_alert(rule="asset_risk", level=Level.ORANGE, source_type="risk", sensor=None)
    other_hazard = make_alert(rule="settlement", hazard="ground_collapse", level=Level.YELLOW)
    other_asset = make_alert(rule="asset_risk", asset="a9", level=Level.ORANGE, sensor=None)
    inh = Inhibitor(RULES.inhibit_rules, [red, lower, other_hazard, other_asset])
    assert inh.inhibited_by(lower.labels) == "red_mutes_lower_on_same_asset_hazard"
    assert not inh.mutes(red.labels)
    assert not inh.mutes(other_hazard.labels)
    assert not inh.mutes(other_asset.labels)


def test_district_storm_groups_its_drainage_alerts() -> None:
    storm = make_alert(
        rule="district_risk",
        hazard="waterlogging",
        scope="district:d1",
        asset=None,
        sensor=None,
        level=Level.ORANGE,
        source_type="risk",
    )
    storm.asset_id = None
    well = make_alert(rule="drainage", hazard="waterlogging", asset="w1")
    elsewhere = make_alert(rule="drainage", hazard="waterlogging", asset="w2", district="d2")
    gas = make_alert(rule="gas_leak")
    firing = [storm, well, elsewhere, gas]
    assert group_parent(well, RULES.group_rules, firing) == storm.fingerprint
    assert group_parent(elsewhere, RULES.group_rules, firing) is None
    assert group_parent(gas, RULES.group_rules, firing) is None
    assert group_parent(storm, RULES.group_rules, firing) is None


def _silence(*matchers: Matcher, start: float = 0, end: float = 3600) -> Silence:
    return Silence(matchers=matchers, starts_at=at(start), ends_at=at(end), created_by="ops", comment="maintenance")


def test_silence_validation_rejects_match_all_and_bad_window() -> None:
    with pytest.raises(SilenceError, match="empty string"):
        validate_silence(_silence(Matcher("asset_id", ".*", is_regex=True)))
    with pytest.raises(SilenceError, match="empty string"):
        validate_silence(_silence(Matcher("asset_id", "a1", is_equal=False)))
    with pytest.raises(SilenceError, match="after start"):
        validate_silence(_silence(Matcher("asset_id", "a1"), start=10, end=10))
    with pytest.raises(SilenceError, match="at least one matcher"):
        validate_silence(_silence())
    with pytest.raises(SilenceError, match="unknown label"):
        validate_silence(_silence(Matcher("colour", "red")))
    validate_silence(_silence(Matcher("asset_id", "a1"), Matcher("hazard", ".*", is_regex=True)))


def test_silence_applies_only_inside_window_and_to_matching_labels() -> None:
    clock = {"now": at(-1)}
    s = _silence(Matcher("district_id", "d1"), Matcher("sensor_kind", "meth.*", is_regex=True))
    silencer = Silencer([s], now=lambda: clock["now"])
    a = make_alert()
    assert not silencer.mutes(a.labels)  # not started
    clock["now"] = at(0)
    assert silencer.mutes(a.labels)
    assert not silencer.mutes(make_alert(district="d2").labels)
    clock["now"] = at(3600)
    assert not silencer.mutes(a.labels)  # expired


class FakeLog:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], LogEntry] = {}
        self.sent: list[tuple[str, str, list[str]]] = []

    def get(self, group: str, receiver: str) -> LogEntry | None:
        return self.entries.get((group, receiver))

    def sink(self, ctx: NotifyContext, alerts) -> None:
        self.sent.append((ctx.receiver, ctx.group_key, sorted(a.fingerprint for a in alerts)))
        self.entries[(ctx.group_key, ctx.receiver)] = LogEntry(ctx.firing_ids, ctx.resolved_ids, ctx.now)


def test_needs_update_rules() -> None:
    f1, f1b = frozenset({"a:yellow:1"}), frozenset({"a:red:1"})
    last = LogEntry(f1, frozenset(), at(0))
    rep = timedelta(hours=4)
    assert needs_update(None, f1, frozenset(), rep, at(0))
    assert not needs_update(None, frozenset(), frozenset({"a:1"}), rep, at(0))  # never sent: no resolved
    assert not needs_update(last, f1, frozenset(), rep, at(60))
    assert needs_update(last, f1b, frozenset(), rep, at(60))  # escalation
    assert needs_update(last, f1, frozenset(), rep, at(4 * 3600))  # repeat interval
    assert not needs_update(last, f1, frozenset(), None, at(10 * 3600))  # acknowledged: no repeat
    assert needs_update(last, frozenset(), frozenset({"a:1"}), rep, at(60))  # resolved goes out
    assert not needs_update(last, frozenset(), frozenset({"a:1"}), rep, at(60), send_resolved=False)
    done = LogEntry(frozenset(), frozenset({"a:1"}), at(60))
    assert not needs_update(done, frozenset(), frozenset({"a:1"}), rep, at(120))


T_START = at(0)


def _pipeline(log: FakeLog, silences=(), now=T_START):
    def build(alerts):
        return build_pipeline(
            inhibitor=Inhibitor(RULES.inhibit_rules, alerts),
            silencer=Silencer(list(silences), now=lambda: now),
            route=lambda a: RULES.route(a.labels),
            log=log.get,
            sink=log.sink,
            repeat_interval=timedelta(seconds=RULES.defaults.repeat_interval_s),
        )

    return build


def test_pipeline_sends_once_per_receiver_then_dedups_then_escalation_and_resolved() -> None:
    log = FakeLog()
    a = make_alert(level=Level.YELLOW)
    build = _pipeline(log)
    build([a]).process(NotifyContext(now=at(0)), [a])
    assert sorted(r for r, _, _ in log.sent) == ["dashboard", "responsible_unit"]
    build([a]).process(NotifyContext(now=at(60)), [a])
    assert len(log.sent) == 2  # nothing new
    a.level = Level.RED
    build([a]).process(NotifyContext(now=at(120)), [a])
    assert sorted(r for r, _, _ in log.sent[2:]) == ["dashboard", "responsible_unit"]
    a.state = AlertState.RESOLVED
    build([a]).process(NotifyContext(now=at(180)), [a])
    assert sorted(r for r, _, _ in log.sent[4:]) == ["dashboard", "responsible_unit"]


def test_pipeline_mutes_silenced_inhibited_and_grouped_but_resolved_passes() -> None:
    log = FakeLog()
    a = make_alert()
    s = _silence(Matcher("asset_id", "a1"))
    _pipeline(log, [s])([a]).process(NotifyContext(now=at(0)), [a])
    assert log.sent == []
    child = make_alert(rule="drainage", hazard="waterlogging", asset="w1")
    child.parent_fingerprint = "parent"
    _pipeline(log)([child]).process(NotifyContext(now=at(0)), [child])
    assert log.sent == []
    stage = MuteStage(Silencer([s], now=lambda: at(0)))
    a.state = AlertState.RESOLVED
    assert stage.process(NotifyContext(now=at(0)), [a]) == [a]


def test_sequence_stops_when_empty_and_fanout_runs_every_branch() -> None:
    calls: list[str] = []

    class Drop:
        def process(self, ctx, alerts):
            calls.append("drop")
            return []

    class Keep:
        def __init__(self, name: str) -> None:
            self.name = name

        def process(self, ctx, alerts):
            calls.append(self.name)
            return alerts

    a = make_alert()
    assert Sequence([Drop(), Keep("never")]).process(NotifyContext(now=at(0)), [a]) == []
    assert calls == ["drop"]
    assert Fanout([Drop(), Keep("b")]).process(NotifyContext(now=at(0)), [a]) == [a]
    assert calls == ["drop", "drop", "b"]


def test_by_receiver_sets_ctx_and_no_repeat_for_acknowledged() -> None:
    seen: list[NotifyContext] = []
    a = make_alert()
    a.state = AlertState.ACKNOWLEDGED
    stage = ByReceiver(
        route=lambda al: ["r1", "r2"],
        branch=lambda r: EnqueueStage(lambda ctx, alerts: seen.append(ctx)),
        repeat_interval=timedelta(hours=1),
    )
    stage.process(NotifyContext(now=at(0)), [a])
    assert [c.receiver for c in seen] == ["r1", "r2"]
    assert seen[0].group_key == a.fingerprint and seen[0].firing_ids == {firing_key(a)}
    assert seen[0].repeat_interval is None
    assert DedupStage(lambda g, r: None).process(seen[0], [a]) == [a]
