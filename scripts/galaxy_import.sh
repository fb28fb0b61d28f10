#!/usr/bin/env bash
# Galaxy's import checks on a built artifact, offline:   scripts/galaxy_import.sh ARTIFACT.tar.gz
# Fails when the importer fails or reports an error. The importer loads module docs without the
# collection's dependencies beside it, so the one error it reports for a doc fragment of
# kubernetes.core (a declared dependency, present on Galaxy) is not ours and is filtered out.
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
artifact="$1"
artifact="$(realpath "$artifact")"
work="$(mktemp -d)"
log="$work/importer.log"
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1  # the importer writes importer_result.json into the current directory
PATH="$here/.venv-next/bin:$PATH" GALAXY_IMPORTER_CONFIG="$here/scripts/galaxy-importer.cfg" \
  "$here/.venv-next/bin/python" -m galaxy_importer.main "$artifact" >"$log" 2>&1
rc=$?
errors=$(grep -E '^ERROR' "$log" | grep -vc "unknown doc_fragment(s) in file .*: kubernetes\.core\.k8s_auth_options" || true)
warnings=$(grep -c '^WARNING' "$log" || true)
if [ "$rc" -ne 0 ] || [ "$errors" -ne 0 ] || ! grep -q 'Importer processing completed successfully' "$log"; then
  grep -E '^(ERROR|WARNING)' "$log" | grep -v "kubernetes\.core\.k8s_auth_options" | head -50
  echo "galaxy-importer: FAILED (exit $rc, $errors error(s))"
  exit 1
fi
grep -E '^WARNING' "$log" | head -40
echo "galaxy-importer: import completed, $warnings warning(s)"
