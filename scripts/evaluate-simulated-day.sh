#!/usr/bin/env bash
# Issue 5 figures on the simulator: a fresh database, the real broker and the real ingest / detector / engine
# processes, an accelerated simulated day that ends in the past (ingest rejects readings > 5 min in the future),
# then `resilience evaluate`. Rerun from any shell:
#   SENSORS=2000 SPEED=120 HOURS=24 bash scripts/evaluate-simulated-day.sh
# Output: $OUT/summary.txt (last line = evaluate's key=value line), logs and truth in $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
SENSORS=${SENSORS:-2000}
SPEED=${SPEED:-120}           # simulated seconds per wall second
HOURS=${HOURS:-24}            # simulated hours
SEED=${SEED:-42}
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
export RESILIENCE_DATABASE_URL_OVERRIDE="$URL" RESILIENCE_MQTT_TOPIC_ROOT="$TAG" RESILIENCE_MQTT_CLIENT_ID="$TAG"
# Silence at SPEED x: checked every 30 simulated seconds, a feed may trail another by one simulator step
# (the same settings `resilience run --speed` uses).
export $($PY -c "from resilience.settings import accelerated_silence_env as e; print(*(f'{k}={v}' for k, v in e($SPEED).items()))")
# the registry first: detector and risk model load it when they start
.venv/bin/resilience simulate --seed-db --dry-run --sensors "$SENSORS" --seed "$SEED" --start "$START" --duration 1 \
  > "$OUT/seed.log" 2>&1
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for svc in ingest detector engine; do
  .venv/bin/resilience "$svc" > "$OUT/$svc.log" 2>&1 &
  PIDS+=($!)
done
for svc in ingest detector engine; do   # wait until each is up
  for _ in $(seq 1 120); do grep -q "subscribed to\|engine running" "$OUT/$svc.log" && break; sleep 0.5; done
done
echo "start=$START speed=$SPEED hours=$HOURS sensors=$SENSORS db=$DB root=$TAG"
T0=$(date +%s)
.venv/bin/resilience simulate --seed-db --sensors "$SENSORS" --seed "$SEED" --speed "$SPEED" --start "$START" \
  --duration "$DURATION" --truth "$OUT/truth.json" > "$OUT/simulate.log" 2>&1
echo "simulated ${HOURS} h in $(( $(date +%s) - T0 )) s wall"
PSQL="psql ${URL/+psycopg/} -At"
# drain: wait until both engine consumers have reached the end of the event log (at most 10 min)
sleep 20
for _ in $(seq 1 120); do
  LAG=$($PSQL -c "select coalesce(max((select max(id) from events) - last_id), 0) from event_cursors")
  [ "$LAG" = "0" ] && break
  sleep 5
done
echo "drained after $(( $(date +%s) - T0 )) s wall (remaining event-log lag: $LAG)"
{
  echo "readings: $($PSQL -c 'select count(*) from readings')  dead letters: $($PSQL -c 'select count(*) from dead_letters')"
  echo "dead letters by reason:"; $PSQL -c "select left(reason,60), count(*) from dead_letters group by 1 order by 2 desc limit 5"
  echo "events by kind:"; $PSQL -c "select kind, count(*) from events group by 1 order by 2 desc"
  echo "health events by status:"; $PSQL -c "select payload->>'status', count(*) from events where kind='sensor_health' group by 1"
  echo "alerts by rule/hazard:"; $PSQL -c "select rule, hazard, count(*) from alerts group by 1,2 order by 3 desc"
  echo "notifications by channel/status:"; $PSQL -c "select channel, status, count(*) from notifications group by 1,2 order by 3 desc"
  echo "event-log lag at end (alerts, risk cursors vs max id):"; $PSQL -c "select consumer, last_id, (select max(id) from events) from event_cursors"
  # alerts after the simulated data ends are about the feed stopping (all sensors fall silent): not scored
  END=$($PY -c "from datetime import datetime,timedelta; print((datetime.fromisoformat('$START')+timedelta(seconds=$DURATION)).isoformat())")
  .venv/bin/resilience evaluate --truth "$OUT/truth.json" --days "$($PY -c "print($HOURS/24)")" --end "$END"
} | tee "$OUT/summary.txt"
