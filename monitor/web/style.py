"""The dashboard's stylesheet, inlined in the page (no external asset)."""

CSS = """
:root { --bg:#f5f6f8; --panel:#fff; --fg:#1d2330; --muted:#6b7385; --line:#e3e6ec;
  --accent:#2f6fdb; --good:#1e8e4f; --warn:#c27c0e; --bad:#d0342c; --muted-bar:#9aa3b5;
  --chip:#eef1f6; color-scheme: light dark; }
@media (prefers-color-scheme: dark) { :root { --bg:#12151b; --panel:#1b1f27; --fg:#e6e9ef;
  --muted:#9299a8; --line:#2c313c; --chip:#252a34; --accent:#6b9cff; --muted-bar:#5b6475; } }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; }
a { color:var(--accent); text-decoration:none; } a:hover { text-decoration:underline; }
header { display:flex; gap:1rem; align-items:baseline; padding:.7rem 1.5rem;
  background:var(--panel); border-bottom:1px solid var(--line); position:sticky; top:0; z-index:1; }
header h1 { margin:0; font-size:1.15rem; } header h1 a { color:var(--fg); }
header nav { margin-left:auto; display:flex; gap:1rem; align-items:center; }
main { max-width:1400px; margin:0 auto; padding:1rem 1.5rem 3rem; }
h2 { font-size:.8rem; text-transform:uppercase; letter-spacing:.06em; color:var(--muted);
  margin:0 0 .6rem; }
h3 { margin:.2rem 0; font-size:1.1rem; }
.muted { color:var(--muted); } small { color:var(--muted); font-weight:normal; }
.cards { display:grid; grid-template-columns:2fr 1fr 1.3fr; gap:1rem; }
.card, .panel { background:var(--panel); border:1px solid var(--line); border-radius:10px;
  padding:1rem 1.2rem; }
.panel { margin-top:1rem; }
.big { font-size:2rem; font-weight:650; margin:.1rem 0 .4rem; }
.big small { font-size:.9rem; }
.chips { display:flex; flex-wrap:wrap; gap:.4rem; }
.chip { background:var(--chip); color:var(--fg); border-radius:999px; padding:.15rem .7rem;
  font-size:.85rem; border:1px solid transparent; }
.chip.on { border-color:var(--accent); font-weight:600; }
.filters { margin-bottom:.8rem; }
.verdict { margin:1rem 0 0; padding:.6rem 1rem; border-radius:8px; font-weight:600; }
.verdict.good { background:color-mix(in srgb, var(--good) 12%, transparent); color:var(--good); }
.verdict.bad { background:color-mix(in srgb, var(--bad) 12%, transparent); color:var(--bad); }
a.bad { color:var(--bad); font-weight:600; }
.badge { display:inline-block; min-width:4.6rem; text-align:center; border-radius:6px;
  padding:.05rem .45rem; font-size:.78rem; font-weight:600; color:#fff; background:var(--muted); }
.s-ok.badge { background:var(--good); } .s-failing.badge { background:var(--bad); }
.s-erroring.badge { background:var(--warn); } .s-new.badge { background:var(--accent); }
.s-disabled.badge { background:#7b4bb8; }
.chip.s-failing { color:var(--bad); } .chip.s-erroring { color:var(--warn); }
.chip.s-ok { color:var(--good); }
.sparks { display:grid; grid-template-columns:repeat(3,1fr); gap:1.2rem; }
.spark { margin:0; } .spark svg { width:100%; height:56px; display:block; }
.spark figcaption { margin-bottom:.3rem; }
.axis { stroke:var(--line); } .axis-labels { display:flex; justify-content:space-between;
  color:var(--muted); font-size:.75rem; }
.scroll { overflow-x:auto; }
table { width:100%; border-collapse:collapse; }
th { text-align:left; font-weight:600; color:var(--muted); font-size:.8rem;
  border-bottom:1px solid var(--line); padding:.4rem .5rem; white-space:nowrap; }
th a { color:var(--muted); }
td { border-bottom:1px solid var(--line); padding:.45rem .5rem; vertical-align:top; }
tr:hover td { background:color-mix(in srgb, var(--accent) 4%, transparent); }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
td.feed b { display:block; } td.feed .url { font-size:.78rem; color:var(--muted);
  word-break:break-all; }
td.err { color:var(--bad); max-width:28rem; font-size:.85rem; }
.kind { font-family:ui-monospace,monospace; background:var(--chip); color:var(--fg);
  border-radius:4px; padding:0 .3rem; }
.pager { display:flex; justify-content:space-between; margin:.6rem 0 0; }
.pager .next { margin-left:auto; }
.empty { color:var(--muted); text-align:center; padding:1rem; }
.tabs { display:flex; flex-wrap:wrap; gap:.3rem; border-bottom:1px solid var(--line);
  margin-bottom:.8rem; }
.tab { padding:.35rem .8rem; border-radius:8px 8px 0 0; color:var(--fg); }
.tab.on { background:var(--chip); font-weight:600; }
.topic-head code { font-size:.8rem; background:var(--chip); padding:.1rem .4rem;
  border-radius:4px; }
.note { font-style:italic; }
ol.timeline { list-style:none; padding:0; margin:0; border-left:2px solid var(--line);
  margin-left:5.5rem; }
ol.timeline li { position:relative; padding:.35rem 0 .6rem 1rem; display:flex; }
ol.timeline li::before { content:""; position:absolute; left:-6px; top:.75rem; width:10px;
  height:10px; border-radius:50%; background:var(--accent); }
ol.timeline li.dev::before { background:var(--warn); }
ol.timeline .when { position:absolute; left:-6.5rem; width:5.5rem; text-align:right;
  color:var(--muted); font-size:.8rem; top:.5rem; }
ol.timeline ul.new { margin:.2rem 0 0; padding-left:1.1rem; }
ol.timeline li.dev h4 { margin:0; } ol.timeline li.more { padding-left:1rem; }
ol.timeline p { margin:0; } .headline { font-weight:600; }
.meta { font-size:.8rem; color:var(--muted); } .source { margin-right:.4rem; }
.term { background:color-mix(in srgb, var(--accent) 14%, transparent); color:var(--fg);
  border-radius:4px; padding:0 .35rem; margin-right:.25rem; font-size:.75rem; }
.term.weak { background:var(--chip); color:var(--muted); font-style:italic; cursor:help; }
.summary { color:var(--muted); font-size:.85rem; }
form.fb { display:inline-flex; gap:.3rem; margin-left:.5rem; align-items:center; }
form.fb button { font-size:.7rem; padding:0 .4rem; border-radius:4px; cursor:pointer;
  border:1px solid var(--muted); background:transparent; color:var(--fg); }
details.feedback { margin-top:.4rem; font-size:.85rem; }
details.feedback ul { margin:.3rem 0; padding-left:1.1rem; }
@media (max-width: 900px) { .cards, .sparks { grid-template-columns:1fr; } }
"""
