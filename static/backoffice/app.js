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
            // A page that lists each order's result (a bulk re-route) shows them once done.
            if (el.hasAttribute("data-reload-on-finish")) { window.location.reload(); }
          } else {
            window.setTimeout(tick, 500);
          }
        })
        .catch(function () { window.setTimeout(tick, 2000); });
    }
    tick();
  }

  // A barcode scanner types the code and presses Enter, and the next scan may follow at
  // once. Each scan is taken out of the field as Enter is pressed, queued and posted in
  // order with fetch (no reload), so scans are never run together or lost, and the
  // field keeps the focus. The form itself still posts when the script is not running.
  function scanner(form) {
    var input = form.querySelector("input[name=barcode]");
    var qty = form.querySelector("input[name=quantity]");
    var binInput = form.querySelector("input[name=bin]");
    var token = form.querySelector("input[name=csrfmiddlewaretoken]");
    var last = document.getElementById("last-scan");
    var log = document.getElementById("scan-log");
    var table = document.querySelector("#inbound-lines tbody");
    var queue = [];
    var busy = false;
    if (!input) { return; }
    // The server checks the quantity: the browser's own check would move the focus to
    // the quantity field, where the next scan's digits would land.
    form.noValidate = true;
    input.focus();

    function note(kind, text) {
      var item = document.createElement("li");
      item.className = "scan-" + kind;
      item.textContent = text;
      log.insertBefore(item, log.firstChild);
      while (log.children.length > 20) { log.removeChild(log.lastChild); }
    }

    function cell(className, text) {
      var td = document.createElement("td");
      td.className = className;
      td.textContent = text;
      return td;
    }

    function rowFor(scan) {
      var row = table.querySelector("tr[data-line-id='" + scan.line_id + "']");
      if (row) { return row; }
      // A product not on the ASN gets a new line on the server: show it too.
      row = document.createElement("tr");
      row.id = "line-" + scan.sku;
      row.setAttribute("data-line-id", scan.line_id);
      var product = document.createElement("td");
      var name = document.createElement("span");
      name.className = "product-name";
      name.textContent = scan.name;
      var codes = document.createElement("div");
      codes.className = "muted small";
      codes.textContent = scan.sku + " · " + (scan.barcode || "no barcode");
      product.appendChild(name);
      product.appendChild(codes);
      row.appendChild(product);
      row.appendChild(cell("num expected", scan.expected));
      row.appendChild(cell("num received", ""));
      row.appendChild(cell("num difference", ""));
      row.appendChild(cell("num on-hand", ""));
      if (binInput) { row.appendChild(cell("bin", "")); }
      table.appendChild(row);
      return row;
    }

    function show(scan) {
      var row = rowFor(scan);
      row.querySelector(".received").textContent = scan.received;
      row.querySelector(".on-hand").textContent = scan.on_hand;
      var binCell = row.querySelector(".bin");
      if (binCell && scan.bin) { binCell.textContent = scan.bin; }
      var diff = row.querySelector(".difference");
      diff.textContent = "";
      if (scan.difference) {
        var badge = document.createElement("span");
        badge.className = "badge badge-" + (scan.difference < 0 ? "on_hold" : "failed");
        badge.textContent = (scan.difference > 0 ? "+" : "") + scan.difference;
        diff.appendChild(badge);
      } else {
        diff.textContent = "✓";
      }
      table.querySelectorAll("tr.selected").forEach(function (r) { r.classList.remove("selected"); });
      row.classList.add("selected");
      if (scan.warnings.length) { row.classList.add("warned"); }
      row.scrollIntoView({block: "nearest"});
      last.textContent = "Last scan: " + scan.code + " × " + scan.quantity + " · " + scan.name +
        " (" + scan.received + " of " + scan.expected + " received)" +
        (scan.bin ? " → bin " + scan.bin : "");
      var said = scan.warnings.map(function (w) { return w.message; });
      note(said.length ? "warning" : "ok",
        [scan.name + " × " + scan.quantity + (scan.bin ? " → " + scan.bin : "")].concat(said).join(" · "));
    }

    function next() {
      if (busy || !queue.length) { return; }
      busy = true;
      var item = queue.shift();
      var body = new URLSearchParams();
      body.append("csrfmiddlewaretoken", token ? token.value : "");
      body.append("barcode", item.code);
      body.append("quantity", item.quantity);
      body.append("bin", item.bin);
      fetch(form.action, {
        method: "POST", body: body, credentials: "same-origin",
        headers: {"Accept": "application/json", "X-CSRFToken": token ? token.value : ""}
      })
        .then(function (r) {
          return r.json().then(function (data) { return {ok: r.ok, data: data}; });
        })
        .then(function (res) {
          if (res.ok) {
            show(res.data);
          } else {
            note("error", item.code + (item.quantity ? " × " + item.quantity : "") +
              " not received: " + (res.data.error || "refused"));
          }
        })
        .catch(function () {
          // The answer was lost (network, or a signed-out session answered with a page):
          // the scan may or may not be recorded, so it is not sent again on its own.
          note("error", item.code + ": no answer from the server; check its row or reload the page.");
        })
        .then(function () {
          busy = false;
          next();
          form.setAttribute("data-pending", queue.length + (busy ? 1 : 0));
        });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var code = input.value.trim();
      var quantity = qty ? qty.value.trim() : "";
      var bin = binInput ? binInput.value.trim() : "";
      input.value = "";
      if (qty) { qty.value = ""; }
      if (binInput) { binInput.value = ""; }
      input.focus();
      if (!code) { return; }
      queue.push({code: code, quantity: quantity, bin: bin});
      form.setAttribute("data-pending", queue.length + (busy ? 1 : 0));
      next();
    });
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
