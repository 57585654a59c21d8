#!/bin/bash
# LocalStack "ready" hook for compose.yaml (mounted into /etc/localstack/init/ready.d): stores the
# two database secrets a real Aurora deployment has, in the RDS secret format
# ({"username", "password", "engine"}):
#   support-local/aurora-admin   the schema owner (PostgreSQL's superuser in compose), which
#                                `agent migrate` connects as (AURORA_ADMIN_SECRET_ARN)
#   support-local/aurora-reader  the agent's read-only user, which `agent migrate` creates with
#                                this password and the agent's tools run as (AURORA_SECRET_ARN)
# Secrets are referred to by name (Secrets Manager accepts a name wherever an ARN goes), because
# LocalStack appends a random suffix to each new secret's ARN.
#
# Written to be run again (LocalStack with PERSISTENCE=1 keeps secrets across restarts): an
# existing secret gets the current value.
set -euo pipefail

store() {
  local name=$1 username=$2 password=$3
  local value="{\"username\":\"$username\",\"password\":\"$password\",\"engine\":\"postgres\"}"
  if awslocal secretsmanager describe-secret --secret-id "$name" >/dev/null 2>&1; then
    awslocal secretsmanager put-secret-value --secret-id "$name" --secret-string "$value" >/dev/null
  else
    awslocal secretsmanager create-secret --name "$name" --secret-string "$value" >/dev/null
  fi
  echo "aurora-secrets: stored $name (user $username)"
}

store support-local/aurora-admin postgres "$SUPPORT_DB_ADMIN_PASSWORD"
store support-local/aurora-reader support_reader "$SUPPORT_DB_READER_PASSWORD"
