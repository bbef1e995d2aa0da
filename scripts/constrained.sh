#!/usr/bin/env bash
# `make constrained`: install the built wheel (no extras) the way MWAA installs requirements.txt,
# under a --constraint file, then check that nothing the file pins changed, that every module
# outside testing/ imports, and that the example DAGs load. Three sets: Airflow's own constraint
# files for the 2.10 and 3.0 lines (as MWAA uses them), and the pinned Airflow 2.10 set with the
# Amazon provider at this package's declared floor (8.28.0).
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
UV=${UV:-.venv/bin/uv}  # from the project's environment: the checked environment holds only what the install brings
wheel=$(ls dist/airflow_provider_pinpoint-*.whl | head -n 1)
[ -n "$wheel" ] || { echo "no wheel in dist/: run make wheel"; exit 1; }

check() {
  local name=$1 airflow=$2 constraints=$3 venv=".matrix/constrained-$1"
  echo "=== $name: $airflow + apache-airflow-providers-amazon + $(basename "$wheel") under $constraints"
  rm -rf "$venv" && "$PYTHON" -m venv --without-pip "$venv" || return 1
  "$UV" pip install --quiet --python "$venv/bin/python" "$airflow" apache-airflow-providers-amazon \
    "$wheel" --constraint "$constraints" || return 1
  "$UV" pip freeze --quiet --python "$venv/bin/python" > "$venv/freeze.txt"
  "$venv/bin/python" - "$constraints" "$venv/freeze.txt" <<'PY' || return 1
import re, sys
def pins(path):
    out = {}
    for line in open(path):
        m = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?(?:==| @ )([^\s;#]+)", line.strip())
        if m:
            out[re.sub(r"[-_.]+", "-", m[1]).lower()] = m[2]
    return out
wanted, got = pins(sys.argv[1]), pins(sys.argv[2])
changed = {n: (wanted[n], v) for n, v in got.items() if n in wanted and wanted[n] != v}
print(f"{len(got)} packages installed, {sum(n in wanted for n in got)} of them pinned by the file, changed: {changed or 'none'}")
shown = ("apache-airflow", "apache-airflow-providers-amazon", "boto3", "botocore", "airflow-provider-pinpoint")
print("versions:", ", ".join(f"{n} {got.get(n, 'MISSING')}" for n in shown))
sys.exit(1 if changed or "airflow-provider-pinpoint" not in got else 0)
PY
  local home; home=$(mktemp -d)
  # a migrated metadata DB, as a deployment has: Airflow 2.10 reads it to parse an asset-alias schedule
  AIRFLOW_HOME="$home" AIRFLOW__CORE__LOAD_EXAMPLES=False "$venv/bin/airflow" db migrate >/dev/null 2>&1 || {
    echo "airflow db migrate failed"; rm -rf "$home"; return 1; }
  AIRFLOW_HOME="$home" AIRFLOW__CORE__LOAD_EXAMPLES=False "$venv/bin/python" - "$PWD/example_dags" <<'PY'
import importlib, pathlib, pkgutil, sys, warnings
warnings.simplefilter("ignore")
import airflow_provider_pinpoint as pkg
names = [m.name for m in pkgutil.walk_packages(pkg.__path__, "airflow_provider_pinpoint.") if ".testing" not in m.name]
for name in names:
    importlib.import_module(name)
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:
    from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(f"imported {len(names)} modules; example DAGs loaded: {sorted(bag.dag_ids)}; import errors: {bag.import_errors or 'none'}")
sys.exit(1 if bag.import_errors or len(bag.dag_ids) < len(list(pathlib.Path(sys.argv[1]).glob("example_*.py"))) else 0)
PY
  local rc=$?
  rm -rf "$home"
  return $rc
}

failed=0
check airflow-2.10-mwaa "apache-airflow==2.10.2" requirements/constraints/constraints-airflow-2.10-python-3.11.txt || failed=1
check airflow-3.0-mwaa "apache-airflow==3.0.1" requirements/constraints/constraints-airflow-3.0-python-3.11.txt || failed=1
check airflow-2.10-amazon-floor "apache-airflow==2.10.5" requirements/matrix/airflow-2.10-amazon-8.28.txt || failed=1
[ $failed -eq 0 ] && echo "=== constrained installs: all passed" || echo "=== constrained installs: FAILED"
exit $failed
