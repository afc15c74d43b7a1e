#!/bin/sh
# The broker container's entrypoint: run Mosquitto on the accounts the scheduler writes from the registry
# (RESILIENCE_MQTT_AUTH_OUT, the shared volume mounted here at /mosquitto/accounts), and reload it (SIGHUP)
# whenever they change, so a utility added to the registry may connect within a minute. The files are
# copied in as the broker's own user, mode 0600: the scheduler's container runs as another uid.
set -eu
SRC=/mosquitto/accounts
DST=/mosquitto/auth
mkdir -p "$DST"
until [ -s "$SRC/passwd" ] && [ -s "$SRC/acl" ] && [ -e "$SRC/passwd-devices" ] && [ -s "$SRC/acl-devices" ]; do
  echo "follow-accounts: waiting for $SRC/passwd, acl, passwd-devices and acl-devices (the scheduler writes them)"
  sleep 2
done
install_accounts() {
  for f in passwd acl passwd-devices acl-devices; do
    cp "$SRC/$f" "$DST/.$f"
    chown mosquitto:mosquitto "$DST/.$f"
    chmod 600 "$DST/.$f"
    mv "$DST/.$f" "$DST/$f"
  done
}
fingerprint() { cat "$SRC/passwd" "$SRC/acl" "$SRC/passwd-devices" "$SRC/acl-devices" | md5sum; }
install_accounts
last=$(fingerprint)
mosquitto -c /mosquitto/config/mosquitto.conf &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 0' TERM INT
while kill -0 "$pid" 2>/dev/null; do
  sleep 5
  now=$(fingerprint 2>/dev/null || echo "$last")
  if [ "$now" != "$last" ]; then
    install_accounts && kill -HUP "$pid" && echo "follow-accounts: accounts changed, broker reloaded"
    last=$now
  fi
done
wait "$pid"
