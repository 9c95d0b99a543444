#!/usr/bin/env bash
# fieldcrm's two commands:  ./dev.sh run   (set up, build the demo database, start the app)
#                           ./dev.sh test  (set up, lint, check layers, run the whole test suite)
set -euo pipefail
cd "$(dirname "$0")"

SYSTEM_PACKAGES=(
  # QtWebEngine (Chromium) and Qt's xcb platform plugin
  libnss3 libxkbcommon0 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1 libxcomposite1
  libxdamage1 libxrandr2 libxtst6 libasound2 libdbus-1-3 libxshmfence1 libgbm1 libxkbfile1
  libglib2.0-0 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 fonts-dejavu-core
  # a throwaway PostgreSQL for the sync server's tests
  postgresql
)

say() { printf '\033[1m[fieldcrm]\033[0m %s\n' "$*"; }

system_setup() {
  command -v dpkg-query >/dev/null 2>&1 || { say "not a Debian/Ubuntu system: install Qt WebEngine's libraries and PostgreSQL yourself"; return; }
  local missing=()
  for p in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      say "missing system packages (install them as root): ${missing[*]}"; return; fi
  fi
  say "installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_setup() {
  local py=""
  for cand in python3.13 python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      py=$cand; break
    fi
  done
  [ -n "$py" ] || { say "Python 3.11 or newer is needed"; exit 1; }
  [ -x .venv/bin/python ] || { say "creating .venv with $py"; "$py" -m venv .venv; }
  local stamp=.venv/.fieldcrm-installed want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing fieldcrm and its dependencies into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[dev]"
    echo "$want" > "$stamp"
  fi
}

cmd=${1:-run}; shift || true
case "$cmd" in
  run)
    system_setup; python_setup
    db=${FIELDCRM_DEMO_DB:-demo/demo.db}
    if [ ! -f "$db" ]; then
      mkdir -p "$(dirname "$db")"
      say "building the demo database $db"
      .venv/bin/fieldcrm demo --db "$db"
    fi
    exec .venv/bin/fieldcrm --db "$db" "$@"
    ;;
  test)
    system_setup; python_setup
    say "ruff"; .venv/bin/ruff check .
    say "import-linter"; .venv/bin/lint-imports
    say "pytest"
    export QT_QPA_PLATFORM=offscreen
    exec .venv/bin/python -m pytest "$@"
    ;;
  *) echo "usage: ./dev.sh run | test [pytest args]"; exit 2 ;;
esac
