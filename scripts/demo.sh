#!/usr/bin/env bash
# The showcase: an embedded nats-server, a requester and three compute nodes, narrated.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
pnpm run build >/dev/null
pnpm run demo "$@"
