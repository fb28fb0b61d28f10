#!/usr/bin/env bash
# The whole test suite (README's test command; .ci/run calls it through `make test`).
#   scripts/test.sh            all stages
#   scripts/test.sh lint       one stage: lint | pytest | collection
# Stages: lint (ruff, ansible-lint production profile), pytest (unit + system tests against real
# Postgres/Patroni/etcd and the Kubernetes API double), collection (galaxy build + offline install,
# ansible-doc of every plugin and ansible-test sanity on the lowest and highest claimed ansible-core,
# galaxy-importer, ansible-test units, in a staged ansible_collections tree).
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here" || exit 1
export PATH="$here/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$here/ansible.cfg"
export PYTHONDONTWRITEBYTECODE=1 NO_COLOR=1 ANSIBLE_NOCOLOR=1 PY_COLORS=0
only="${1:-all}"
passed=0; failed=0; failed_names=()
stage() {  # stage NAME CMD...
  local name="$1"; shift
  printf '\n=== %s\n' "$name"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); printf -- '--- %s: ok (%ss)\n' "$name" $((SECONDS - t0))
  else
    failed=$((failed + 1)); failed_names+=("$name"); printf -- '--- %s: FAILED (%ss)\n' "$name" $((SECONDS - t0))
  fi
}

lint_stage() {
  stage "ruff" ruff check plugins tests benchmarks scripts ui
  stage "ansible-lint (production profile, offline)" ansible-lint --offline
}

pytest_stage() {
  stage "pytest (unit + system)" pytest -q -p no:cacheprovider --timeout=900 tests/unit tests/system
}

collection_stage() {
  local work; work="$(mktemp -d)"
  # Build the artifact and install it offline next to its dependency, as a Galaxy user would.
  stage "galaxy build + offline install" bash -c "
    set -e
    ansible-galaxy collection build --force --output-path '$work/dist' . >/dev/null
    ansible-galaxy collection install --offline --force -p '$work/installed' '$work'/dist/pgfleet-postgres-*.tar.gz \
      >/dev/null
    cp -r .collections/ansible_collections/kubernetes '$work/installed/ansible_collections/'
    test -f '$work/installed/ansible_collections/pgfleet/postgres/MANIFEST.json'"
  stage "ansible-doc renders every module and filter (ansible-core 2.18)" bash scripts/check_docs.sh "$work/installed"
  stage "ansible-doc renders every module and filter (ansible-core 2.19)" \
    env PATH="$here/.venv-next/bin:$PATH" bash scripts/check_docs.sh "$work/installed"
  stage "docs site (antsibull-docs + Sphinx, a broken link fails)" bash scripts/docs_site.sh "$work/docs"
  stage "galaxy-importer (Galaxy's import checks, offline)" bash scripts/galaxy_import.sh "$work"/dist/pgfleet-postgres-*.tar.gz
  # ansible-test needs the collection under ansible_collections/<ns>/<name>/ with its
  # dependencies beside it; it bootstraps pip with a script we supply offline.
  local tree="$work/tree/ansible_collections"
  mkdir -p "$tree/pgfleet/postgres" "$HOME/.ansible/test/cache"
  git ls-files -co --exclude-standard | grep -v '^\.collections/' | tar -cf - -T - | tar -xf - -C "$tree/pgfleet/postgres"
  cp -r .collections/ansible_collections/kubernetes "$tree/"
  cp scripts/get_pip_standin.py "$HOME/.ansible/test/cache/get_pip_24_2.py"  # ansible-core 2.18 and 2.19 bootstrap pip 24.2
  # ansible-test sanity on the lowest and the highest ansible-core that meta/runtime.yml claims
  # (requires_ansible >=2.18.0,<2.20.0): 2.18 from .venv, 2.19 from .venv-next. Each reads its own
  # tests/sanity/ignore-<version>.txt; both bootstrap pip with the stand-in above.
  local v bin
  for v in 2.18:.venv 2.19:.venv-next; do
    bin="$here/${v#*:}/bin"
    stage "ansible-test sanity (ansible-core ${v%%:*})" bash -c "cd '$tree/pgfleet/postgres' && '$bin/ansible-test' sanity --venv --python 3.11 2>&1 | grep -vE '^(WARNING: Location|Looking in|Collecting|Downloading|Installing|Successfully|  Downloading| +━)'; exit \${PIPESTATUS[0]}"
  done
  stage "ansible-test units" bash -c "cd '$tree/pgfleet/postgres' && ansible-test units --venv --python 3.11 --requirements tests/unit/plugins/ 2>&1 | grep -vE '^(WARNING: Location|Looking in|Collecting|Downloading|Installing|Successfully|  Downloading| +━)'; exit \${PIPESTATUS[0]}"
  rm -rf "$work"
}

case "$only" in
  all) lint_stage; pytest_stage; collection_stage ;;
  lint) lint_stage ;;
  pytest) pytest_stage ;;
  collection) collection_stage ;;
  *) echo "usage: scripts/test.sh [all|lint|pytest|collection]" >&2; exit 2 ;;
esac

printf '\n'
[ "$failed" -eq 0 ] || printf 'failed stages: %s\n' "${failed_names[*]}"
printf 'stages: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
