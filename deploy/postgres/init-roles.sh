#!/bin/bash
# First start of the database volume (docker-entrypoint-initdb.d, as the image's superuser): the login the
# platform's services use, resilience_app, a member of resilience_service, which migration 0006 grants row
# rights and nothing more (migrations run as the owner, POSTGRES_USER); and Grafana's, grafana_reader, a
# member of resilience_reader (read only, not the API keys). On a database made before this
# script existed, run it once by hand: docker compose exec timescaledb bash /docker-entrypoint-initdb.d/10-roles.sh
set -euo pipefail
: "${RESILIENCE_DB_APP_PASSWORD:?set RESILIENCE_DB_APP_PASSWORD}"
: "${RESILIENCE_GRAFANA_DB_PASSWORD:?set RESILIENCE_GRAFANA_DB_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v app_pw="$RESILIENCE_DB_APP_PASSWORD" -v grafana_pw="$RESILIENCE_GRAFANA_DB_PASSWORD" <<'SQL'
DO $$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'resilience_service') THEN
    CREATE ROLE resilience_service NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'resilience_reader') THEN
    CREATE ROLE resilience_reader NOLOGIN;
  END IF;
END$$;
SELECT format('CREATE ROLE resilience_app LOGIN PASSWORD %L IN ROLE resilience_service', :'app_pw')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'resilience_app') \gexec
-- Grafana's login: reads the data (migration 0006 grants resilience_reader SELECT), never the API keys
SELECT format('CREATE ROLE grafana_reader LOGIN PASSWORD %L IN ROLE resilience_reader', :'grafana_pw')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'grafana_reader') \gexec
SQL
