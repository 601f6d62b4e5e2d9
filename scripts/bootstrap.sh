#!/usr/bin/env bash
# Makes a fresh machine ready: nats-server and chromium (Debian packages), pnpm 10 (through npx: corepack is
# not usable here), the workspace's dependencies from the lockfile, and a build.
# Sourced by scripts/demo.sh and scripts/test.sh; puts `pnpm` on PATH for them (and for turbo).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ] && [ -z "${NATS_SERVER_BIN:-}" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing nats-server (apt-get)" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  else
    echo "bootstrap: nats-server is missing: install it (apt-get install -y nats-server) or set NATS_SERVER_BIN" >&2
    exit 1
  fi
fi

# The gateway's browser tests drive Debian's chromium (no browser download: playwright-core is
# pointed at /usr/bin/chromium, or CHROMIUM_BIN).
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM_BIN:-}" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing chromium (apt-get)" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "bootstrap: chromium is missing: install it (apt-get install -y chromium) or set CHROMIUM_BIN" >&2
    exit 1
  fi
fi

# The wan benchmark builds its link with ip (netns, veth) and tc (tbf), and zstd-napi (an optional
# dependency) builds from source where its prebuilt binary cannot be fetched: iproute2 and a C++
# toolchain. Neither is required: without them the benchmark skips and streams use brotli.
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  command -v tc >/dev/null 2>&1 || missing+=(iproute2)
  command -v g++ >/dev/null 2>&1 || missing+=(g++)
  command -v make >/dev/null 2>&1 || missing+=(make)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: installing ${missing[*]} (apt-get)" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
      echo "bootstrap: could not install ${missing[*]}: the wan benchmark may skip, zstd may be missing" >&2
  fi
fi

# turbo looks pnpm up on PATH, so a shell function is not enough: put a shim on PATH that runs
# pnpm 10 through npx when no pnpm 10 is installed.
if ! (command -v pnpm >/dev/null 2>&1 && pnpm --version 2>/dev/null | grep -q '^10\.'); then
  shim_dir="${TMPDIR:-/tmp}/tailwire-pnpm-shim"
  mkdir -p "$shim_dir"
  printf '#!/usr/bin/env bash\nexec npx -y pnpm@10 "$@"\n' >"$shim_dir/pnpm"
  chmod +x "$shim_dir/pnpm"
  export PATH="$shim_dir:$PATH"
fi

if [ ! -d node_modules/.pnpm ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
  pnpm install --frozen-lockfile --reporter=silent
fi
