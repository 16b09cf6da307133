#!/usr/bin/env bash
# make test: every suite in order, each one timed; the times are printed at the end, also when a
# suite failed (the first failure stops the run).
#   hack/test.sh SUITE...   each SUITE is a make target
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
names=() times=() results=()
rc=0
total_start=$SECONDS
for suite in "$@"; do
  echo "==> make $suite"
  start=$SECONDS
  make -C "$ROOT" --no-print-directory "$suite"
  rc=$?
  names+=("$suite") times+=($((SECONDS - start)))
  if [[ $rc -ne 0 ]]; then results+=(FAILED); break; fi
  results+=(ok)
done
echo
echo "make test: time per suite"
for i in "${!names[@]}"; do
  printf '  %-20s %6s s  %s\n' "${names[$i]}" "${times[$i]}" "${results[$i]}"
done
printf '  %-20s %6s s\n' total $((SECONDS - total_start))
if [[ $rc -ne 0 ]]; then
  echo "make test: FAILED in $(IFS=; echo "${names[-1]}")"
  exit "$rc"
fi
echo "make test: all suites passed"
