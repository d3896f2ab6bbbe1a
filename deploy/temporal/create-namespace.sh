#!/bin/sh
# Service temporal-create-namespace (image temporalio/admin-tools), once the server is up:
# make sure the namespace the app uses exists and carries the custom search attributes
# every journey sets (journeys/contracts/search_attributes.py). The dev stack gets the same from
# `temporal server start-dev --search-attribute ...` (journeys/devstack/stack.py).
#
# Safe on every `docker compose up`: an existing namespace is left alone, and with SQL
# visibility a search attribute is a per-namespace alias, so creating one that exists
# is a no-op.
set -eu

ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-72h}"
ATTEMPTS="${TEMPORAL_WAIT_ATTEMPTS:-60}"
DELAY="${TEMPORAL_WAIT_SECONDS:-2}"

# retry COMMAND...: run COMMAND until it succeeds, at most ATTEMPTS times.
retry() {
  n=1
  until "$@"; do
    if [ "$n" -ge "$ATTEMPTS" ]; then
      echo "giving up after $n attempts: $*" >&2
      return 1
    fi
    n=$((n + 1))
    sleep "$DELAY"
  done
}

ensure_namespace() {
  if temporal operator namespace describe --namespace "$NAMESPACE" --address "$ADDRESS" >/dev/null 2>&1; then
    echo "namespace $NAMESPACE exists"
  else
    temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" --address "$ADDRESS"
  fi
}

# One line per attribute, all Keyword: tests/deploy/test_compose.py reads these lines and
# compares them with journeys/contracts/search_attributes.py.
create_search_attributes() {
  temporal operator search-attribute create --namespace "$NAMESPACE" --address "$ADDRESS" --name CustomerId --type Keyword &&
  temporal operator search-attribute create --namespace "$NAMESPACE" --address "$ADDRESS" --name Journey --type Keyword &&
  temporal operator search-attribute create --namespace "$NAMESPACE" --address "$ADDRESS" --name JourneyStep --type Keyword &&
  temporal operator search-attribute create --namespace "$NAMESPACE" --address "$ADDRESS" --name CustomerKey --type Keyword
}

# A list query naming all four parses only once the frontend knows the aliases (its
# namespace cache refreshes every few seconds); wait for that, so the worker and the API
# never start into "search attribute ... is not defined".
search_attributes_usable() {
  temporal workflow list --namespace "$NAMESPACE" --address "$ADDRESS" --limit 1 \
    --query "CustomerId = 'probe' AND Journey = 'probe' AND JourneyStep = 'probe' AND CustomerKey = 'probe'" >/dev/null
}

echo "waiting for Temporal at $ADDRESS"
retry temporal operator cluster health --address "$ADDRESS"
retry ensure_namespace
retry create_search_attributes
retry search_attributes_usable
temporal operator search-attribute list --namespace "$NAMESPACE" --address "$ADDRESS"
echo "namespace $NAMESPACE is ready"
