"""An unmodified boto3 program runs against Tailor with only the printed environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests import synthetic
from tests.conftest import ROOT, Tailor


def test_getting_started_script_runs_unmodified(tailor: Tailor, tmp_path: Path) -> None:
    csv_path = tmp_path / "interactions.csv"
    data = synthetic.planted_interactions(seed=11)
    csv_path.write_text("USER_ID,ITEM_ID,TIMESTAMP\n" + "".join(
        f"{u},{i},{t}\n" for u, i, t in zip(data.users, data.items, data.timestamps,
                                             strict=True)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(tailor.env)  # exactly what `tailor serve` printed
    out = subprocess.run([sys.executable, "scripts/getting_started.py", str(csv_path)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    recs, ranking = lines[-2], lines[-1]
    assert len(recs["recommendations"]) == 10
    assert len(ranking["ranking"]) == 10
    assert "aws-user-personalization metrics" in out.stdout
