"""The notebook runs top to bottom on the bundled sample, so it cannot rot unnoticed."""

from __future__ import annotations

import json
from pathlib import Path

import nbclient
import nbformat

from loganalyzer import analyze, sample_paths
from loganalyzer.outputs.charts import place_label

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "briefing.ipynb"


def test_notebook_is_committed_without_outputs():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)


def test_notebook_executes(tmp_path, monkeypatch):
    # Jupyter's own folders go to tmp_path; platformdirs avoids jupyter_core's
    # deprecation warning, which filterwarnings=error would turn into a failure.
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    s = sample_paths()
    a = analyze([s.log], city_db=s.city_db, asn_db=s.asn_db, by=["region"])
    lines = a.meta["lines"]
    assert (
        f"{lines['total']:,} lines read, {lines['parsed']:,} parsed, "
        f"{lines['rejected']:,} rejected" in text
    )
    top = a.rows.row(0, named=True)
    assert f"- Most requests came from {place_label(top)}: {top['requests']:,} of " in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2
