#!/usr/bin/env bash
# The README's main job, on the built-in local default:
#   1. render every Kubernetes object of the example manifest into out/<namespace>/<name>/ (no
#      cluster needed);
#   2. bring that manifest up as a real Patroni cluster on this machine (etcd + Patroni + the
#      PostgreSQL major it asks for, 18 for the complete manifest, on loopback);
#   3. print a short summary: the member table, how to connect, the console, how to tear down.
# The playbooks' full output goes to out/demo-logs/; it is shown only when a step fails.
#   MANIFEST=FILE OPERATOR_CONFIG=FILE bash scripts/demo.sh
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
export PATH="$here/.venv/bin:$PATH" ANSIBLE_CONFIG="$here/ansible.cfg"
MANIFEST="${MANIFEST:-examples/complete-postgres-manifest.yaml}"
CONFIG="${OPERATOR_CONFIG:-examples/configmap.yaml}"
logs="out/demo-logs"
mkdir -p "$logs"
step() {  # step N TITLE LOG CMD...: run CMD with its output in LOG; on failure show the end of LOG
  local n="$1" title="$2" log="$3"; shift 3
  printf '[%s/2] %s ... ' "$n" "$title"
  local t0=$SECONDS
  if "$@" >"$log" 2>&1; then
    printf 'done (%ss)\n' $((SECONDS - t0))
  else
    printf 'FAILED\n\n'
    grep -E '^(fatal|failed|ERROR|\[ERROR\])|msg:|"msg"' "$log" | tail -n 20 || tail -n 40 "$log"
    printf '\nThe whole output: %s\n' "$log"
    exit 1
  fi
}
read -r ns name < <(python - "$MANIFEST" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if isinstance(d, dict) and d.get("kind") == "postgresql"]
meta = (docs[0] if docs else {}).get("metadata") or {}
print(meta.get("namespace") or "default", meta.get("name") or "?")
PY
)
step 1 "Rendering the Kubernetes objects of $name" "$logs/render.log" \
  ansible-playbook playbooks/render.yml -e manifest="$MANIFEST" -e operator_config="$CONFIG" -e output_dir=out
step 2 "Starting $name on this machine (etcd, Patroni, PostgreSQL; about a minute)" "$logs/local.log" \
  env ANSIBLE_CALLBACK_RESULT_FORMAT=json ansible-playbook playbooks/local.yml -e manifest="$MANIFEST" -e operator_config="$CONFIG" -e state=present
# What the local target left out of the manifest (it says so in its warnings), one line each.
grep -oE '^\s+"spec\.[^"]*' "$logs/local.log" | sed -E 's/^\s+"/  note: /' | sort -u | head -n 10 || true
python scripts/demo_summary.py "$MANIFEST" "out/$ns/$name"
