// Back-office behaviour: plain JS, no build step.
(function () {
  "use strict";

  // Tell the server the agent's time zone so times are rendered in it.
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && document.cookie.indexOf("consign_tz=" + encodeURIComponent(tz)) === -1) {
      document.cookie = "consign_tz=" + encodeURIComponent(tz) + "; path=/; SameSite=Lax; max-age=31536000";
    }
  } catch (e) { /* old browser: server default zone */ }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // A job page polls its JSON status until the job is finished.
  function pollJob(el) {
    var url = el.getAttribute("data-job-status-url");
    var bar = el.querySelector(".progress > div");
    var label = el.querySelector("[data-job-label]");
    var result = el.querySelector("[data-job-result]");
    var error = el.querySelector("[data-job-error]");
    var badge = document.querySelector("[data-job-outcome]");
    var title = el.getAttribute("data-job-title");
    // Set from the script, not a style attribute: the CSP forbids inline styles.
    bar.style.width = (bar.parentNode.getAttribute("aria-valuenow") || "0") + "%";
    function tick() {
      fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (job) {
          bar.style.width = job.percent + "%";
          bar.parentNode.setAttribute("aria-valuenow", job.percent);
          label.textContent = job.percent + " % · " + job.processed + " / " + job.total +
            " processed · " + job.succeeded + " done · " + job.failed + " not done";
          // The outcome shows in the badge, the bar's colour and the tab's title, so a
          // finished job never keeps saying "running" and a failed one never looks done.
          el.setAttribute("data-outcome", job.outcome);
          if (badge) {
            badge.className = "badge badge-" + job.outcome;
            badge.textContent = job.outcome_label;
          }
          if (title) { document.title = title + " · " + job.outcome_label + " | Consign back office"; }
          if (error && job.error) {
            error.textContent = job.error;
            error.hidden = false;
          }
          if (job.finished) {
            if (result) { result.hidden = false; }
            el.setAttribute("data-finished", "true");
          } else {
            window.setTimeout(tick, 500);
          }
        })
        .catch(function () { window.setTimeout(tick, 2000); });
    }
    tick();
  }

  // A barcode scanner types the code and presses Enter: submit each scan, keep focus.
  function scanner(form) {
    var input = form.querySelector("input[name=barcode]");
    if (input) { input.focus(); }
  }

  // "/" jumps to the desk search box, as in most search-centred tools.
  document.addEventListener("keydown", function (event) {
    var search = document.getElementById("desk-q");
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (event.key === "/" && search && !typing) {
      event.preventDefault();
      search.focus();
      search.select();
    }
  });

  // Exception queue: a header checkbox ticks every row of its section; it shows
  // ticked when all rows are and half-ticked when some are.
  document.addEventListener("change", function (event) {
    var box = event.target;
    var section = box.closest && box.closest("section");
    if (!section) { return; }
    var rows = section.querySelectorAll("input[name=order_ids]");
    var all = section.querySelector("input[data-select-all]");
    if (box.hasAttribute("data-select-all")) {
      rows.forEach(function (row) { row.checked = box.checked; });
    } else if (all && box.name === "order_ids") {
      var ticked = section.querySelectorAll("input[name=order_ids]:checked").length;
      all.checked = ticked === rows.length;
      all.indeterminate = ticked > 0 && ticked < rows.length;
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-job-status-url]").forEach(pollJob);
    document.querySelectorAll("form.scan").forEach(scanner);
  });
})();
