#!/usr/bin/env bash
# `make matrix`: the whole test suite in its own environment per cell (Python 3.11), each cell
# installed from its committed pin file requirements/matrix/<cell>.txt. The cells are the files
# requirements/matrix/*.in (test-deps.in, which every cell includes, is not one). Each cell
# prints the versions it ran and its time, and fails when it runs past its time budget.
#   CELLS="airflow-2.10 airflow-3.1" make matrix     # a subset
#   CELL_BUDGET=600                                  # seconds per cell (install + tests)
#   CELL_GOAL=300                                    # a cell past it says so (and still passes)
#   bash scripts/matrix.sh --install airflow-2.10    # only install one cell's environment
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
UV_VERSION=${UV_VERSION:-0.13.9}
if [ -z "${CELLS:-}" ]; then
  CELLS=$(for in_file in requirements/matrix/*.in; do basename "$in_file" .in; done | grep -vx test-deps | tr '\n' ' ')
fi
CELL_BUDGET=${CELL_BUDGET:-600}
CELL_GOAL=${CELL_GOAL:-$CELL_BUDGET}

install_cell() {
  local cell=$1 venv=".matrix/$1"
  if [ ! -x "$venv/bin/uv" ]; then
    "$PYTHON" -m venv "$venv" && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi || return 1
  "$venv/bin/uv" pip sync --quiet --python "$venv/bin/python" "requirements/matrix/$cell.txt" || return 1
  "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" --no-deps -e .
}

if [ "${1:-}" = "--install" ]; then
  install_cell "$2"
  exit
fi

run_cell() {
  local cell=$1 venv=".matrix/$1"
  install_cell "$cell" || return 1
  "$venv/bin/python" - <<'PY'
from importlib.metadata import version
names = ("apache-airflow", "apache-airflow-providers-amazon", "boto3", "moto", "pytest")
print("versions: python 3.11, " + ", ".join(f"{n} {version(n)}" for n in names))
PY
  rm -rf ".airflow/matrix/$cell"
  AIRFLOW_HOME="$PWD/.airflow/matrix/$cell" "$venv/bin/pytest" -q -p no:cacheprovider
}

declare -a summary
failed=0
for cell in $CELLS; do
  echo "=== cell $cell (goal ${CELL_GOAL}s, budget ${CELL_BUDGET}s)"
  start=$(date +%s)
  export -f install_cell run_cell; export PYTHON UV_VERSION
  timeout --kill-after=10 "$CELL_BUDGET" bash -c "run_cell $cell"
  rc=$?
  took=$(( $(date +%s) - start ))
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then status="FAILED (over its ${CELL_BUDGET}s budget)"; failed=1
  elif [ $rc -ne 0 ]; then status="FAILED (exit $rc)"; failed=1
  else status="passed"; fi
  [ $took -le "$CELL_GOAL" ] || status+=", over its ${CELL_GOAL}s goal"
  echo "=== cell $cell: $status in ${took}s"
  summary+=("$cell: $status in ${took}s")
done
echo "=== matrix summary"
printf '  %s\n' "${summary[@]}"
exit $failed
