"""The page's inline stylesheet and script (written here; nothing is loaded from a network).

The script enlarges a figure on a click and makes every ``table.sortable`` sortable by a click on (or Enter on) a column header —
numbers by value, text alphabetically — and filters the rows of a table by the text typed in its
``input.filter`` (``data-table`` names the table's id).
"""

CSS = """
:root { --ink: #1d2733; --muted: #5b6773; --line: #d8dee4; --accent: #0b5cad; --ok: #1a7f37;
        --warn: #9a6700; --off: #6e7781; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color: var(--ink); background: #fff; }
header.page { background: var(--ink); color: #fff; padding: 18px 28px; }
header.page h1 { margin: 0 0 4px; font-size: 24px; }
header.page p { margin: 0; color: #c9d1d9; font-size: 13px; }
.layout { display: flex; max-width: 1400px; margin: 0 auto; }
nav.toc { flex: 0 0 230px; position: sticky; top: 0; align-self: flex-start; max-height: 100vh;
          overflow-y: auto; padding: 18px 10px 18px 20px; font-size: 13px; border-right: 1px solid var(--line); }
nav.toc ol { list-style: none; margin: 0; padding: 0; }
nav.toc li { margin: 3px 0; }
nav.toc a { color: var(--ink); text-decoration: none; }
nav.toc a:hover { color: var(--accent); text-decoration: underline; }
main { flex: 1 1 auto; min-width: 0; padding: 8px 28px 40px; }
section { border-bottom: 1px solid var(--line); padding: 14px 0 22px; }
h2 { font-size: 20px; margin: 10px 0 8px; }
h3 { font-size: 15px; margin: 16px 0 6px; color: var(--muted); }
.badge { display: inline-block; font-size: 11px; font-weight: 600; text-transform: uppercase;
         border-radius: 10px; padding: 1px 8px; margin-left: 8px; vertical-align: middle; color: #fff; }
.badge.ok { background: var(--ok); } .badge.missing { background: var(--warn); }
.badge.not-configured { background: var(--off); }
p.verdict { font-size: 16px; font-weight: 600; margin: 6px 0 8px; padding: 8px 12px;
            border-left: 4px solid var(--accent); background: var(--bg); }
section.not-configured p.verdict, section.missing p.verdict { border-left-color: var(--off);
            font-weight: 400; color: var(--muted); }
ul.details { margin: 4px 0 8px; padding-left: 20px; }
.keyfindings { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 10px 16px;
               margin: 16px 0 4px; }
.keyfindings h2 { margin-top: 4px; }
.keyfindings li { margin: 4px 0; }
.figures { display: flex; flex-wrap: wrap; gap: 14px; margin: 10px 0; }
figure { margin: 0; flex: 0 1 auto; max-width: 100%; border: 1px solid var(--line); border-radius: 4px;
         padding: 6px; background: #fff; }
figure img { display: block; max-width: 100%; height: auto; max-height: 380px; }
figure img { cursor: zoom-in; }
figure.zoom { flex-basis: 100%; }
figure.zoom img { max-height: none; cursor: zoom-out; }
figcaption { font-size: 12px; color: var(--muted); margin-top: 4px; }
.tablebox { overflow: auto; max-width: 100%; width: fit-content; margin: 6px 0; border: 1px solid var(--line); border-radius: 4px; }
.tablebox.long { max-height: 420px; }
table { border-collapse: collapse; font-size: 13px; width: auto; min-width: 40%; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { white-space: normal; min-width: 240px; }
thead th { position: sticky; top: 0; background: #eef2f6; z-index: 1; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th::after { content: " \\2195"; color: #9aa4ae; font-size: 11px; }
table.sortable th[aria-sort="ascending"]::after { content: " \\25B2"; color: var(--accent); }
table.sortable th[aria-sort="descending"]::after { content: " \\25BC"; color: var(--accent); }
tbody tr:nth-child(even) { background: #fafbfc; }
tr.highlight td { background: #fff4d6; }
.controls { display: flex; gap: 10px; align-items: center; font-size: 13px; margin-top: 10px; }
input.filter { font: inherit; padding: 3px 8px; width: 260px; border: 1px solid var(--line); border-radius: 4px; }
.count { color: var(--muted); }
.links { font-size: 13px; color: var(--muted); }
.links a { color: var(--accent); }
code { font-size: 12px; background: var(--bg); padding: 1px 4px; border-radius: 3px; word-break: break-all; }
.print-only { display: none; }
@media (max-width: 900px) { nav.toc { display: none; } main { padding: 8px 14px; } }
@media print {
  @page { margin: 14mm; }
  body { font-size: 11pt; }
  header.page { background: none; color: #000; padding: 0 0 8px; border-bottom: 2px solid #000; }
  header.page p { color: #333; }
  nav.toc, .controls { display: none; }
  main { padding: 0; }
  section { break-inside: auto; }
  p.verdict { break-after: avoid; background: none; }
  figure { break-inside: avoid; border: none; }
  figure img { max-height: 90mm; }
  .tablebox, .tablebox.long { max-height: none; overflow: visible; border: none; }
  .tablebox.long tbody tr:nth-child(n+26) { display: none; }
  table { font-size: 8pt; min-width: 0; }
  th, td { white-space: normal; padding: 2px 4px; }
  table.sortable th::after { content: ""; }
  h2, h3 { break-after: avoid; }
  .print-only { display: block; font-size: 9pt; color: #333; }
  a { color: inherit; text-decoration: none; }
  thead th { position: static; }
}
"""

JS = """
(function () {
  "use strict";
  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) { return ""; }
    var raw = cell.getAttribute("data-value");
    return raw === null ? cell.textContent : raw;
  }
  function compare(a, b) {
    var x = parseFloat(a), y = parseFloat(b);
    var xn = a !== "" && !isNaN(x) && isFinite(a), yn = b !== "" && !isNaN(y) && isFinite(b);
    if (xn && yn) { return x - y; }
    if (xn !== yn) { return xn ? -1 : 1; }
    return a.localeCompare(b);
  }
  function sortBy(table, th) {
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) {
      var c = compare(cellValue(r1, index), cellValue(r2, index));
      return ascending ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function filterRows(input) {
    var table = document.getElementById(input.getAttribute("data-table"));
    if (!table) { return; }
    var needle = input.value.trim().toLowerCase();
    var shown = 0, rows = table.tBodies[0].rows;
    for (var i = 0; i < rows.length; i++) {
      var hit = needle === "" || rows[i].textContent.toLowerCase().indexOf(needle) !== -1;
      rows[i].hidden = !hit;
      if (hit) { shown++; }
    }
    var counter = document.getElementById(input.getAttribute("data-count"));
    if (counter) { counter.textContent = shown + " of " + rows.length + " rows"; }
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(table, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, th); }
      });
    });
  });
  document.querySelectorAll("figure img").forEach(function (img) {
    img.title = "click to enlarge";
    img.addEventListener("click", function () { img.parentNode.classList.toggle("zoom"); });
  });
  document.querySelectorAll("input.filter").forEach(function (input) {
    input.addEventListener("input", function () { filterRows(input); });
    filterRows(input);
  });
})();
"""
