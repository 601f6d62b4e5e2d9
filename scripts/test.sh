#!/usr/bin/env bash
# The test command: build, lint, type-check and every test (unit and real nats-server ones).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
pnpm run test
