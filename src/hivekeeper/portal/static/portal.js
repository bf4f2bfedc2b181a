// Small conveniences only: every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // "/" focuses the search box, as on most catalogues.
  const search = document.getElementById("q");
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && search && document.activeElement !== search && !(event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement)) {
      event.preventDefault();
      search.focus();
    }
  });
  // Refresh the workloads table while something is starting, so the status settles without a reload.
  const table = document.getElementById("workloads");
  if (table && table.querySelector(".status-starting")) {
    setTimeout(() => window.location.reload(), 1500);
  }
  // Keep the end of a log in view.
  const log = document.getElementById("log");
  if (log) log.scrollTop = log.scrollHeight;
});
