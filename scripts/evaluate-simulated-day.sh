#!/usr/bin/env bash
# Issue 5 figures on the simulator: a fresh database, the real broker and the real ingest / detector / engine
# processes, an accelerated simulated day that ends in the past (ingest rejects readings > 5 min in the future),
# then `resilience evaluate`. Rerun from any shell:
#   SENSORS=2000 SPEED=120 HOURS=24 bash scripts/evaluate-simulated-day.sh
# (INCIDENTS=demo: one incident of every type in the first half hour, for a run of a few hours;
# tests/e2e/test_evaluate.py runs a short one.)
# An evaluation operator (`resilience evaluate-operator`, OPERATOR_AFTER_S=120) resolves every alert as a duty
# officer would, two simulated minutes after it fires.
# Output: $OUT/summary.txt (last line = evaluate's key=value line), logs and truth in $OUT.
# The run has a topic root of its own (eval-<ts>), so a demo on the same broker does not feed it; the broker's
# ACL follows the configured root, so it is written for that root when the run starts and for the usual one
# again when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
SENSORS=${SENSORS:-2000}
SPEED=${SPEED:-120}           # simulated seconds per wall second
HOURS=${HOURS:-24}            # simulated hours
SEED=${SEED:-42}
INCIDENTS=${INCIDENTS:-default}
DRAIN_S=${DRAIN_S:-600}       # how long to wait for detection, risk and alerts to consume everything
DB=${DB:-resilience_eval}
OUT=${OUT:-.local/evaluate}
PY=.venv/bin/python
mkdir -p "$OUT"; rm -f "$OUT"/*.log "$OUT"/truth.json
DURATION=$((HOURS * 3600))
# start so that the simulated run ends 10 minutes before the wall clock at launch: always in the past
START=$($PY -c "from datetime import datetime,timedelta,timezone as tz; print((datetime.now(tz.utc)-timedelta(seconds=$DURATION+600)).replace(microsecond=0).isoformat())")
TAG=eval-$(date +%s)
.venv/bin/resilience services start
URL=$($PY -c "from resilience.store.db import recreate_database; print(recreate_database('$DB'))")   # drop, create, migrate
ROOT_BEFORE=${RESILIENCE_MQTT_TOPIC_ROOT-}
export RESILIENCE_DATABASE_URL_OVERRIDE="$URL" RESILIENCE_MQTT_TOPIC_ROOT="$TAG" RESILIENCE_MQTT_CLIENT_ID="$TAG"
restore_acl() {  # the broker's accounts for the root it had before this run
  if [ -n "$ROOT_BEFORE" ]; then
    RESILIENCE_MQTT_TOPIC_ROOT="$ROOT_BEFORE" .venv/bin/resilience mqtt-credentials sync > /dev/null || true
  else
    env -u RESILIENCE_MQTT_TOPIC_ROOT -u RESILIENCE_DATABASE_URL_OVERRIDE .venv/bin/resilience mqtt-credentials sync \
      > /dev/null || true
  fi
}
# Silence at SPEED x: checked every 30 simulated seconds, a feed may trail another by one simulator step
# (the same settings `resilience run --speed` uses).
export $($PY -c "from resilience.core.settings import accelerated_silence_env as e; print(*(f'{k}={v}' for k, v in e($SPEED).items()))")
# the registry first: detector and risk model load it when they start
.venv/bin/resilience simulate --seed-db --dry-run --sensors "$SENSORS" --seed "$SEED" --start "$START" --duration 1 \
  > "$OUT/seed.log" 2>&1
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  restore_acl
}
trap cleanup EXIT
# the service accounts' rights on $TAG/#, held while this script runs: a sync for the usual root meanwhile
# (`resilience services start`, the test suite) keeps them (before, the broker then dropped every reading sent)
.venv/bin/resilience mqtt-credentials sync --hold-for-pid $$ > "$OUT/acl.log"
# the engine's tick (auto-resolve, re-open, escalation) every 30 simulated seconds, at most twice a wall second:
# at the live 10 wall seconds an accelerated run would tick once per 20-40 simulated minutes
TICK_S=$($PY -c "print(max(0.5, 30 / $SPEED))")
for svc in ingest detector engine; do
  args=(); [ "$svc" = engine ] && args=(--tick-s "$TICK_S")
  .venv/bin/resilience "$svc" "${args[@]}" > "$OUT/$svc.log" 2>&1 &
  PIDS+=($!)
done
for svc in ingest detector engine; do   # wait until each is up
  for _ in $(seq 1 120); do grep -q "subscribed to\|engine running" "$OUT/$svc.log" && break; sleep 0.5; done
  grep -q "subscribed to\|engine running" "$OUT/$svc.log" || { echo "$svc did not start:"; tail -5 "$OUT/$svc.log"; exit 1; }
done
# the duty officer: resolves each alert 2 simulated minutes after it fires (override + reason where the condition
# holds, as the API's resolve), so re-opening is exercised; samples the staleness of the values open alerts show
OPERATOR_AFTER_S=${OPERATOR_AFTER_S:-120}
rm -f "$OUT/operator-samples.jsonl"
.venv/bin/resilience evaluate-operator --after-s "$OPERATOR_AFTER_S" --samples "$OUT/operator-samples.jsonl" \
  > "$OUT/operator.log" 2>&1 &
OPERATOR_PID=$!
PIDS+=($OPERATOR_PID)
echo "start=$START speed=$SPEED hours=$HOURS sensors=$SENSORS db=$DB root=$TAG"
T0=$(date +%s)
.venv/bin/resilience simulate --seed-db --sensors "$SENSORS" --seed "$SEED" --speed "$SPEED" --start "$START" \
  --duration "$DURATION" --incidents "$INCIDENTS" --truth "$OUT/truth.json" > "$OUT/simulate.log" 2>&1
echo "simulated ${HOURS} h in $(( $(date +%s) - T0 )) s wall"
# alerts after the simulated data ends are about the feed stopping (all sensors fall silent): not scored
END=$($PY -c "from datetime import datetime,timedelta; print((datetime.fromisoformat('$START')+timedelta(seconds=$DURATION)).isoformat())")
# detection, risk and alerts consume everything stored first (the first line it prints says what is left)
SCORE=$(.venv/bin/resilience evaluate --truth "$OUT/truth.json" --days "$($PY -c "print($HOURS/24)")" --end "$END" \
  --wait-drained "$DRAIN_S" --operator-samples "$OUT/operator-samples.jsonl")
echo "drained and scored $(( $(date +%s) - T0 )) s after the simulation started"
PSQL="psql ${URL/+psycopg/} -At"
READINGS=$($PSQL -c 'select count(*) from readings')
{
  echo "readings: $READINGS  dead letters: $($PSQL -c 'select count(*) from dead_letters')"
  echo "dead letters by reason:"; $PSQL -c "select left(reason,60), count(*) from dead_letters group by 1 order by 2 desc limit 5"
  echo "events by kind:"; $PSQL -c "select kind, count(*) from events group by 1 order by 2 desc"
  echo "health events by status:"; $PSQL -c "select payload->>'status', count(*) from events where kind='sensor_health' group by 1"
  echo "alerts by rule/hazard:"; $PSQL -c "select rule, hazard, count(*) from alerts group by 1,2 order by 3 desc"
  echo "notifications by channel/status:"; $PSQL -c "select channel, status, count(*) from notifications group by 1,2 order by 3 desc"
  echo "$SCORE"
} | tee "$OUT/summary.txt"
[ "$READINGS" -gt 0 ] || { echo "no reading was stored: see $OUT/ingest.log and $OUT/simulate.log"; exit 1; }
# the duty officer ran the whole day: without it, re-opening and the truth keys measure nothing
kill -0 "$OPERATOR_PID" 2>/dev/null || { echo "void run: the evaluation operator stopped (see $OUT/operator.log)"; exit 1; }
# every reading the simulator sent is stored, or the run is void (figures over a partial feed mean nothing)
SENT=$(sed -n 's/^done: \([0-9,]*\) readings.*/\1/p' "$OUT/simulate.log" | tr -d ,)
if [ -n "$SENT" ] && [ "$READINGS" -ne "$SENT" ]; then
  echo "void run: the simulator sent $SENT readings, $READINGS were stored (see $OUT/ingest.log)"; exit 1
fi
