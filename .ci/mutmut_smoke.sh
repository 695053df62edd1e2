#!/usr/bin/env bash
# CI smoke of mutation testing (docs/testing.md): mutmut plants every small
# change it knows in ONE small module, keras_attn/ops/positions.py, runs its
# focused tests against each, and this script fails if fewer than
# MIN_SCORE % of the mutants are killed (or time out), or if the run does
# not finish within the time limit.
#
# It works in a scratch copy of keras_attn/, tests/ and pyproject.toml with
# the [tool.mutmut] section replaced, so it needs no mutants/ folder and
# leaves the checkout's own (full) mutation run alone.
set -euo pipefail
cd "$(dirname "$0")/.."
MIN_SCORE=${MUTMUT_SMOKE_MIN_SCORE:-95}
LIMIT_S=${MUTMUT_SMOKE_LIMIT_S:-600}
CHILDREN=${MUTMUT_SMOKE_CHILDREN:-2}

if ! command -v mutmut >/dev/null 2>&1; then
  python -m pip install -q "mutmut==3.8.1"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r keras_attn tests pyproject.toml "$work"/
find "$work" -name __pycache__ -prune -exec rm -rf {} +

python - "$work/pyproject.toml" <<'PY'
import re
import sys

path = sys.argv[1]
text = open(path).read()
smoke = """[tool.mutmut]
source_paths = ["keras_attn/ops/positions.py"]
pytest_add_cli_args_test_selection = ["tests/test_ops_positions.py"]
also_copy = ["tests/", "keras_attn/", "pyproject.toml"]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]
process_isolation = "forkserver"

"""
new, n = re.subn(r"\[tool\.mutmut\]\n.*?(?=^\[|\Z)", smoke, text,
                 flags=re.S | re.M)
assert n == 1, "no [tool.mutmut] section in pyproject.toml"
open(path, "w").write(new)
PY

cd "$work"
set +e
timeout "$LIMIT_S" mutmut run --max-children "$CHILDREN" >mutmut.log 2>&1
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
  tail -c 3000 mutmut.log
  echo "mutmut smoke: mutmut run failed or ran past ${LIMIT_S}s (rc=$rc)"
  exit 1
fi
mutmut export-cicd-stats >/dev/null
mutmut results
python - "$MIN_SCORE" <<'PY'
import json
import sys

s = json.load(open("mutants/mutmut-cicd-stats.json"))
caught = s["killed"] + s["timeout"]
score = 100.0 * caught / s["total"]
print(
    f"mutmut smoke (keras_attn/ops/positions.py): {caught}/{s['total']} "
    f"killed or timed out = {score:.1f} % (survived {s['survived']}, "
    f"no tests {s['no_tests']}, suspicious {s['suspicious']}); "
    f"threshold {sys.argv[1]} %"
)
sys.exit(0 if score >= float(sys.argv[1]) else 1)
PY
