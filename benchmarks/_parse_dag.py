"""Parse one DAG file as Airflow's DAG processor does (a DagBag over that file); exit 1 unless it
yields exactly one DAG and no import error. ``python -m benchmarks._parse_dag FILE``."""

import sys

from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
sys.exit(0 if len(bag.dags) == 1 and not bag.import_errors else f"{bag.dags} {bag.import_errors}")
