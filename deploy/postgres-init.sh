#!/usr/bin/env bash
# Runs once, when the Postgres volume is first created (docker-entrypoint-initdb.d): the forecasting
# store gets its own database and role beside Airflow's metadata database, so the service, which
# faces users, holds no credentials for Airflow's tables.
set -euo pipefail

psql --set ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set password="$FORECASTING_DB_PASSWORD" <<'SQL'
CREATE ROLE forecasting LOGIN PASSWORD :'password';
CREATE DATABASE forecasting OWNER forecasting;
SQL
