#!/usr/bin/env bash
# Makes sure the local peers of the integration tests are up: RabbitMQ
# (127.0.0.1:5672) and PostgreSQL (127.0.0.1:5432). Starts them if they are
# down; fails loudly if one cannot be reached.
set -euo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure() {
  local name="$1" port="$2" service="$3"
  if up "$port"; then return 0; fi
  echo "ensure-services: $name is down, starting it" >&2
  if command -v service >/dev/null 2>&1; then
    service "$service" start >&2 || true
  fi
  for _ in $(seq 1 60); do
    if up "$port"; then return 0; fi
    sleep 1
  done
  echo "ensure-services: $name is not reachable on 127.0.0.1:$port" >&2
  return 1
}

ensure RabbitMQ 5672 rabbitmq-server
ensure PostgreSQL 5432 postgresql
