#!/usr/bin/env bash
# Makes sure the local peers of the integration tests are up: RabbitMQ
# (127.0.0.1:5672), PostgreSQL (127.0.0.1:5432, database `test`) and a Java
# runtime for the Spark tests. Starts or installs them if they are missing;
# fails loudly if one cannot be had.
set -euo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_postgresql() {
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start >&2 || true
  elif command -v service >/dev/null 2>&1; then
    service postgresql start >&2 || true
  fi
}

start_rabbitmq() {
  if command -v rabbitmq-server >/dev/null 2>&1; then
    rabbitmq-server -detached >&2 || true
  elif command -v service >/dev/null 2>&1; then
    service rabbitmq-server start >&2 || true
  fi
}

ensure() {
  local name="$1" port="$2" start="$3"
  if up "$port"; then return 0; fi
  echo "ensure-services: $name is down, starting it" >&2
  "$start"
  for _ in $(seq 1 90); do
    if up "$port"; then return 0; fi
    sleep 1
  done
  echo "ensure-services: $name is not reachable on 127.0.0.1:$port; the real-peer tests need it" >&2
  return 1
}

ensure RabbitMQ 5672 start_rabbitmq
ensure PostgreSQL 5432 start_postgresql

# The tests' database.
if command -v psql >/dev/null 2>&1; then
  if ! psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
    psql -h 127.0.0.1 -U postgres -d postgres -c 'create database test' >&2 || true
  fi
fi

# Java 17 for the real-Spark tests (pyspark runs its JVM).
if ! command -v java >/dev/null 2>&1; then
  echo "ensure-services: no java on PATH, installing a Java 17 runtime for the Spark tests" >&2
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless) >&2 || true
  fi
  command -v java >/dev/null 2>&1 || { echo "ensure-services: java is missing; the Spark tests need Java 17" >&2; exit 1; }
fi
