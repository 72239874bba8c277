# SPDX-License-Identifier: MIT
"""The report's HTML page: ``index.html`` with inline CSS and script and relative image paths.

:func:`_page` writes the tables of settings, trial counts and the best trial,
then one block per figure (:class:`.figures.Section`), so the page opens from
the file system with no server and no network.
"""

from __future__ import annotations

import datetime
import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from synaptune.hpo.report.data import SweepData
    from synaptune.hpo.report.figures import Section
    from synaptune.hpo.records import TrialRecord

#: Marks an index.html written by :func:`write_report`; such a folder may be overwritten.
GENERATOR = "synaptune report"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 980px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.7em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.tables { display: flex; flex-wrap: wrap; gap: 2em; }
figure { margin: 0.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, .missing { color: #555; font-size: 0.9em; max-width: 800px; }
.missing { font-style: italic; }
pre { background: #f8f8f8; padding: 0.7em; overflow-x: auto; font-size: 0.85em; }
"""

# Counts the images that loaded (naturalWidth > 0) into body attributes once the page has loaded,
# so a headless browser (and the tests) can check the page without a server.
_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (im) { return im.complete && im.naturalWidth > 0; });
  document.body.setAttribute("data-images-total", String(images.length));
  document.body.setAttribute("data-images-loaded", String(loaded.length));
});
"""


def _table(rows: list[tuple[str, str]], header: tuple[str, str] | None = None) -> str:
    e = html.escape
    head = f"<tr><th>{e(header[0])}</th><th>{e(header[1])}</th></tr>" if header else ""
    body = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{head}{body}</table>"


def _best_rows(data: SweepData, best: TrialRecord) -> list[tuple[str, str]]:
    """Rows of the "Best trial" table: its ids, its metrics and the standard error of the sweep's metric."""
    e = html.escape
    rows = [("run", e(best.run_id)), ("trial", e(best.trial_id))]
    rows += [(e(k), f"{best.value(k):.4g}") for k in ("objective", "val/acc", "val/bwt", "val/forgetting",
                                                     "state_bytes") if best.value(k) is not None]
    se = best.standard_error(data.metric)
    rows += [(f"standard error of {e(data.metric)}", f"{se:.2g}")] if se is not None else []
    return rows


def _param_rows(data: SweepData, best: TrialRecord) -> list[tuple[str, str]]:
    """Rows of the "Best parameters" table: sampled parameters first and in bold, then the others."""
    e = html.escape
    sampled = {d.name for d in data.space.dims} if data.space is not None else set()
    params = sorted(best.params, key=lambda k: (k not in sampled, k))
    return [(f"<b>{e(k)}</b>" if k in sampled else e(k), e(best.params[k])) for k in params]


def _notes(data: SweepData) -> list[str]:
    """The notes shown under the page's title, with one about other sweeps of the experiment if any."""
    notes = list(data.notes)
    if data.other_sweeps:
        notes.append(f"This experiment holds {data.other_sweeps + 1} sweeps (the same name with other results "
                     "paths); this page shows the most recently started one.")
    return notes


def _section_html(s: Section) -> str:
    """One figure's block: its heading, then its image and caption, or why it is missing."""
    e = html.escape
    if s.image is None:
        return f"<h2>{e(s.title)}</h2>\n<p class=\"missing\">{e(s.missing or '')}</p>"
    return (f"<h2>{e(s.title)}</h2>\n<figure><img src=\"{e(s.image)}\" alt=\"{e(s.title)}\">"
            f"<figcaption>{e(s.caption)}</figcaption></figure>")


def _test_runs_html(data: SweepData) -> str:
    """The test results of presets exported from this sweep (``synaptune run --preset``), or how to get one."""
    e = html.escape
    if not data.test_runs:
        return ("<h2>Test results of exported presets</h2>\n<p class=\"missing\">No `synaptune run --preset` of a "
                f"preset exported from this sweep is in this MLflow store yet: `synaptune export --experiment "
                f"{e(data.experiment)} -o preset.yaml`, then `synaptune run --preset preset.yaml --seeds 5`.</p>")
    rows = []
    for run in data.test_runs:
        m, tags = run.metrics, run.tags
        acc = (f"{m['test/acc']:.4f} ± {m.get('test/acc_std', float('nan')):.4f}" if "test/acc" in m else "-")
        rows.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in (
            run.run_id, run.experiment, run.trial_run_id, tags.get("reported_tasks", "?"), acc,
            f"{m['test/forgetting']:.4f}" if "test/forgetting" in m else "-",
            tags.get("preset_tuned_on", "") and "another stream")) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("run", "experiment", "exported trial run", "tasks", "test ACC",
                                            "forgetting", "note"))
    return ("<h2>Test results of exported presets</h2>\n<p class=\"meta\">`synaptune run --preset` of presets "
            "exported from this sweep: trained from scratch on train+val, tested on test, mean ± std over "
            f"seeds.</p>\n<table><tr>{head}</tr>{''.join(rows)}</table>")


def _page(data: SweepData, sections: list[Section]) -> str:
    """index.html: tables of settings, counts and the best trial, then one block per figure."""
    from synaptune import __version__

    e = html.escape
    best = data.completed[0]
    learner, benchmark = data.settings.get("learner", "?"), data.settings.get("benchmark", "?")
    counts = data.counts()
    count_rows = [(e(s), str(n)) for s, n in counts.items()] + [("<b>all</b>", f"<b>{len(data.trials)}</b>")]
    best_rows = _best_rows(data, best)
    param_rows = _param_rows(data, best)
    setting_rows = [(e(k), e(v)) for k, v in sorted(data.settings.items())]
    notes = _notes(data)
    blocks = [_section_html(s) for s in sections]
    space = (f"<h2>Search space</h2>\n<pre>{e(data.space_yaml)}</pre>" if data.space_yaml else "")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="{GENERATOR}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>synaptune report: {e(data.experiment)}</title>
<style>{_CSS}</style>
<script>{_SCRIPT}</script>
</head>
<body>
<h1>Sweep <code>{e(data.experiment)}</code>: {e(learner)} on {e(benchmark)}</h1>
<p class="meta">MLflow {e(data.tracking_uri)}, sweep run {e(data.parent_id)}; generated {when} by
synaptune {e(__version__)}. Best of {len(data.completed)} completed trial(s) by {e(data.metric)} ({data.mode}): {e(data.metric)} =
{data.value(best):.4g} ({e(best.name)}, trial {e(best.trial_id)}).</p>
{"".join(f'<p class="meta">{e(n)}</p>' for n in notes)}
<div class="tables">
<div><h2>Trials by status</h2>{_table(count_rows, ("status", "trials"))}</div>
<div><h2>Best trial</h2>{_table(best_rows)}</div>
</div>
<h2>Best parameters</h2>
<p class="meta">Sampled parameters in bold; the others were fixed or kept their defaults.</p>
{_table(param_rows, ("parameter", "value"))}
{chr(10).join(blocks)}
{_test_runs_html(data)}
<h2>Sweep settings</h2>
{_table(setting_rows, ("setting", "value"))}
{space}
</body>
</html>
"""
