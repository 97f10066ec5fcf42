"""Snakemake's HTML report of the committed results, rendered by headless Chromium.

`snakemake --report report.html all analyses` on a copy of the project (the committed results/ and
paper_figs/; no training), then Chromium runs the report's own JavaScript: the five categories are
in the menu, every figure marked with report() is embedded, and each one, shown the way a click on
it shows it, decodes to a real image with non-blank pixels.
"""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
_SKIP = shutil.ignore_patterns(".git", ".venv", ".tools", ".snakemake", "__pycache__", ".pytest_cache", "*.egg-info",
                               ".hypothesis", "checkpoint.pt", "report.html")


def IGNORE(folder, names):
    """The project without run folders and logs (results/runs, results/analyses, results/logs): the
    report is built from the committed summaries alone. ``adc/report/analyses`` is code and is kept."""
    skip = set(_SKIP(folder, names))
    if Path(folder).name == "results":
        skip |= {"runs", "analyses", "logs"} & set(names)
    return skip
CATEGORIES = ["1. Main comparison", "2. Communication", "3. Time", "4. Ablations", "5. Analyses"]
FIGURES = {"accuracy_vs_xi.png": CATEGORIES[0], "accuracy_vs_communication.png": CATEGORIES[1],
           "time_to_accuracy.png": CATEGORIES[2], "ablation_split.png": CATEGORIES[3],
           "ablation_batch.png": CATEGORIES[3], "ablation_cluster_on.png": CATEGORIES[3],
           "grid_search.png": CATEGORIES[4], "seed0.png": CATEGORIES[4]}
TABLES = {"accuracy.md": CATEGORIES[0], "comm_to_target.md": CATEGORIES[1], "time_to_accuracy.csv": CATEGORIES[2],
          "grid_best.md": CATEGORIES[4], "ablation_split.md": CATEGORIES[3]}


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium); the report is not rendered")
    return exe


def run_chromium(exe: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--virtual-time-budget=120000", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    exe = chromium()
    project = tmp_path_factory.mktemp("report") / "project"
    shutil.copytree(ROOT, project, ignore=IGNORE)
    if not (project / "paper_figs" / "time_to_accuracy.png").exists():
        # wall-clock seconds are machine-specific and not committed (results/timings.csv is untracked):
        # give the copy stand-in timings so that the time category has its figure and table
        hist = pd.read_csv(project / "results" / "histories.csv")
        keys = ["dataset", "model", "method", "setting", "seed", "step"]
        hist[keys].assign(wall_seconds=0.01 * hist["step"]).to_csv(project / "results" / "timings.csv", index=False)
        subprocess.run([sys.executable, "-m", "adc.report.time_to_accuracy", "--histories", "results/histories.csv",
                        "--mean", "results/summary_mean.csv", "--timings", "results/timings.csv",
                        "--out", "paper_figs/time_to_accuracy", "--table", "results/tables/time_to_accuracy.csv"],
                       cwd=project, check=True, capture_output=True)
    out = project / "results" / "report.html"
    p = subprocess.run([sys.executable, "-m", "snakemake", "--report", str(out), "all", "analyses"], cwd=project,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0 and out.exists(), f"snakemake --report failed:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
    out.with_suffix(".exe").write_text(exe)
    return out


def script_var(html: str, name: str) -> dict:
    block = re.search(rf'<script id="{name}">\s*var {name} = (.*?);\s*</script>', html, re.S)
    assert block, f"the report has no {name} block"
    return json.loads(block.group(1))


def test_every_figure_and_table_is_in_its_category_with_a_caption(report):
    html = report.read_text()
    results, categories = script_var(html, "results"), script_var(html, "categories")
    assert list(sorted(categories)) == CATEGORIES
    category_of = {Path(path).name: cat for cat, subs in categories.items() for paths in subs.values() for path in paths}
    by_name = {Path(path).name: entry for path, entry in results.items()}
    for name, category in {**FIGURES, **TABLES}.items():
        assert name in by_name, f"{name} is not in the report (marked with report()?); it has {sorted(by_name)}"
        entry = by_name[name]
        assert category_of[name] == category, (name, category_of[name])
        assert len(re.sub(r"<[^>]+>", "", entry["caption"]).split()) >= 15, f"{name}: caption missing or too short"
    for name in FIGURES:
        assert by_name[name]["mime_type"] == "image/png" and by_name[name]["data_uri"].startswith("data:image/png")


# A script appended to a copy of the report: it shows each figure as a click on it does
# (app.setView with the result's data URI), waits for the <img> to load, and writes what it saw.
PROBE = """
<script>
window.addEventListener("load", async () => {
  for (let i = 0; i < 100 && typeof app === "undefined"; i++)   // React renders the App (and sets app) async
    await new Promise(r => setTimeout(r, 100));
  await new Promise(r => setTimeout(r, 200));
  const seen = {menu: document.querySelector("#app").innerText, figures: {}};
  for (const [path, entry] of Object.entries(results)) {
    if (entry.mime_type !== "image/png") continue;
    app.setView({content: "img", contentPath: entry.data_uri, resultPath: path});
    let img = null;
    for (let i = 0; i < 100; i++) {             // up to 10 s of (virtual) time for React and the decoder
      await new Promise(r => setTimeout(r, 100));
      const imgs = document.querySelectorAll("#app img");    // the menu's logo first, the content pane's last
      img = imgs.length > 1 ? imgs[imgs.length - 1] : null;
      if (img && img.src === entry.data_uri && img.complete && img.naturalWidth > 0) break;
    }
    const box = img ? img.getBoundingClientRect() : {width: 0, height: 0};
    seen.figures[path] = {w: img ? img.naturalWidth : 0, h: img ? img.naturalHeight : 0,
                          shown_w: box.width, shown_h: box.height};
  }
  const pre = document.createElement("pre");
  pre.id = "adc-probe";
  pre.textContent = JSON.stringify(seen);
  document.body.appendChild(pre);
});
</script>
"""

SHOW = """
<script>
window.addEventListener("load", async () => {
  for (let i = 0; i < 100 && typeof app === "undefined"; i++)   // React renders the App (and sets app) async
    await new Promise(r => setTimeout(r, 100));
  const path = Object.keys(results).find(p => p.endsWith("%s"));
  app.setView({content: "img", contentPath: results[path].data_uri, resultPath: path});
  setTimeout(() => app.showCategory("%s"), 300);      // the menu lists the category's results, as after a click
});
</script>
"""


def with_script(html: str, script: str) -> str:
    head, tail = html.rsplit("</body>", 1)          # the last one: the bundled libraries contain the string too
    return head + script + "</body>" + tail


def test_chromium_renders_the_menu_and_every_figure(report):
    exe = report.with_suffix(".exe").read_text()
    probe = report.with_name("probe.html")
    probe.write_text(with_script(report.read_text(), PROBE))
    dom = run_chromium(exe, "--dump-dom", probe.as_uri()).stdout
    found = re.search(r'<pre id="adc-probe">(.*?)</pre>', dom, re.S)
    assert found, f"the probe did not run in Chromium:\n{dom[-2000:]}"
    seen = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    for category in CATEGORIES:
        assert category in seen["menu"], f"category {category!r} not in the rendered menu: {seen['menu'][:500]}"
    from PIL import Image
    names = {Path(p).name: v for p, v in seen["figures"].items()}
    assert set(FIGURES) <= set(names), sorted(names)
    for path, v in seen["figures"].items():
        name = Path(path).name
        size = Image.open(report.parents[1] / path).size          # the committed figure itself
        assert (v["w"], v["h"]) == size, f"{name}: Chromium shows a {v['w']}x{v['h']} image, the file is {size}"
        assert v["shown_w"] > 100 and v["shown_h"] > 100, f"{name} is not visible on the page: {v}"


def test_screenshot_of_the_main_comparison_shows_the_figure(report):
    from PIL import Image
    exe = report.with_suffix(".exe").read_text()
    page = report.with_name("show.html")
    page.write_text(with_script(report.read_text(), SHOW % ("accuracy_vs_xi.png", CATEGORIES[0])))
    shot = report.with_name("report.png")
    run_chromium(exe, f"--screenshot={shot}", "--window-size=1400,900", page.as_uri())
    assert shot.exists(), "Chromium wrote no screenshot"
    img = Image.open(shot).convert("RGB")
    assert img.size == (1400, 900)
    right = img.crop((400, 0, 1400, 900))               # the content pane, right of the menu
    import numpy as np
    pixels = np.asarray(right).reshape(-1, 3).astype(int)
    non_white = float((pixels.sum(axis=1) < 720).mean())
    colours = len(np.unique(pixels, axis=0))
    assert non_white > 0.02 and colours > 200, f"the figure pane looks blank: {non_white:.1%} non-white, {colours} colours"
