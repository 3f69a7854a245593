// The HTML report's one script. The pages are complete without it; it adds:
// - sorting: a click on a column header of a summary table sorts its rows by that column
//   (numbers by the cell's data-sort value, text by the text), a second click reverses;
// - on a file page, the keys n and p jump to the next and previous line that is not
//   fully covered, and the line a link points at (#L12) shows its list of tests open.
// When it has finished it sets data-report-ready on <html>, which the browser test reads.
"use strict";

(function () {
  function sortKey(row, column) {
    const cell = row.cells[column];
    if (!cell) {
      return "";
    }
    return cell.dataset.sort !== undefined ? Number(cell.dataset.sort) : cell.textContent.trim();
  }

  function compare(left, right) {
    if (typeof left === "number" && typeof right === "number") {
      return left - right;
    }
    return String(left).localeCompare(String(right));
  }

  for (const table of document.querySelectorAll("table.summary")) {
    const body = table.tBodies[0];
    if (!table.tHead || !body || body.rows.length < 2) {
      continue;
    }
    Array.from(table.tHead.rows[0].cells).forEach(function (header, column) {
      header.classList.add("sortable");
      header.title = "Sort by this column";
      header.addEventListener("click", function () {
        const descending = header.dataset.order !== "descending";
        for (const other of table.tHead.rows[0].cells) {
          delete other.dataset.order;
        }
        header.dataset.order = descending ? "descending" : "ascending";
        const rows = Array.from(body.rows);
        rows.sort(function (a, b) {
          const order = compare(sortKey(a, column), sortKey(b, column));
          return descending ? -order : order;
        });
        body.append(...rows);
      });
    });
  }

  const attention = Array.from(document.querySelectorAll("table.source tr.uncovered, table.source tr.partial"));
  let current = -1;
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || attention.length === 0) {
      return;
    }
    if (event.key === "n") {
      current = (current + 1) % attention.length;
    } else if (event.key === "p") {
      current = (current - 1 + attention.length) % attention.length;
    } else {
      return;
    }
    location.hash = attention[current].id;
  });

  function openTestsOfTarget() {
    const row = location.hash ? document.getElementById(location.hash.slice(1)) : null;
    const details = row ? row.querySelector("td.tests details") : null;
    if (details) {
      details.open = true;
    }
  }
  window.addEventListener("hashchange", openTestsOfTarget);
  openTestsOfTarget();

  document.documentElement.dataset.reportReady = "true";
})();
