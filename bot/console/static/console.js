// Staff console: keeps the handoff counter and queue fresh without a reload.
// Builds DOM nodes with textContent only (never innerHTML): patient text stays text.
(function () {
  "use strict";
  var POLL_MS = 5000;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    if (text !== undefined && text !== null) { td.textContent = text; }
    row.appendChild(td);
    return td;
  }

  function hidden(form, name, value) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }

  function conversationUrl(id) {
    return "/conversations/view?id=" + encodeURIComponent(id);
  }

  // The same lines as the page's template (handoffs.html): words, not colour alone.
  function timing(td, item) {
    var lines = [];
    if (item.waiting) { lines.push("waiting " + item.waiting); }
    if (item.to_claim) { lines.push("claimed after " + item.to_claim); }
    if (item.to_first_reply) { lines.push("first reply after " + item.to_first_reply); }
    if (item.waiting_notice) { lines.push("patient told of the wait"); }
    lines.forEach(function (line, index) {
      if (index) { td.appendChild(document.createElement("br")); }
      td.appendChild(document.createTextNode(line));
      if (index === 0 && item.over_target) {
        var mark = document.createElement("strong");
        mark.className = "over-target";
        mark.textContent = "Over target";
        td.appendChild(document.createTextNode(" "));
        td.appendChild(mark);
      }
    });
  }

  function row(item) {
    var tr = document.createElement("tr");
    tr.dataset.handoffId = item.id;
    if (item.urgent) { tr.classList.add("urgent"); }
    if (item.over_target) { tr.classList.add("over-target"); }
    cell(tr, item.created_at);
    timing(cell(tr, null, "timing"), item);
    var link = document.createElement("a");
    link.href = conversationUrl(item.conversation_id);
    link.textContent = item.conversation;
    cell(tr).appendChild(link);
    cell(tr, item.channel);
    var reason = cell(tr);
    if (item.urgent) {
      var strong = document.createElement("strong");
      strong.textContent = "URGENT ";
      reason.appendChild(strong);
    }
    reason.appendChild(document.createTextNode(item.reason));
    cell(tr, item.status + (item.claimed_by ? " (" + item.claimed_by + ")" : ""));
    cell(tr, item.summary, "text");
    var actions = cell(tr);
    if (item.status === "open") {
      var form = document.createElement("form");
      form.method = "post";
      form.action = "/handoffs/claim";
      form.className = "inline";
      hidden(form, "csrf_token", csrf);
      hidden(form, "handoff_id", String(item.id));
      hidden(form, "next", conversationUrl(item.conversation_id));
      var button = document.createElement("button");
      button.type = "submit";
      button.textContent = "Claim";
      form.appendChild(button);
      actions.appendChild(form);
    }
    return tr;
  }

  function render(data) {
    var badge = document.getElementById("handoff-badge");
    if (badge) {
      badge.textContent = data.open ? String(data.open) : "";
      badge.dataset.count = String(data.open);
      badge.className = data.urgent ? "badge urgent" : "badge";
    }
    var body = document.getElementById("handoff-rows");
    if (!body) { return; }
    var rows = data.items.map(row);
    if (!rows.length) {
      var empty = document.createElement("tr");
      cell(empty, "Nobody is waiting.").colSpan = 8;
      rows = [empty];
    }
    body.replaceChildren.apply(body, rows);
  }

  function poll() {
    fetch("/handoffs.json", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) { render(data); } })
      .catch(function () { /* offline for a moment: try again next time */ });
  }

  // A saved reply goes into the reply at the cursor (replacing a selection), so
  // staff edit it before sending; never past the reply's maxlength.
  function insertSavedReply(button) {
    var box = button.closest(".saved-replies");
    var select = box.querySelector("select");
    var status = box.querySelector(".saved-reply-status");
    var area = document.getElementById(button.getAttribute("data-target"));
    var option = select.options[select.selectedIndex];
    if (!area || !option || !option.value) {
      status.textContent = "Choose a saved reply first.";
      select.focus();
      return;
    }
    var text = option.getAttribute("data-body") || "";
    var start = area.selectionStart;
    var end = area.selectionEnd;
    var limit = area.maxLength > 0 ? area.maxLength : Infinity;
    if (area.value.length - (end - start) + text.length > limit) {
      status.textContent = "Not inserted: the reply would be longer than " + limit + " characters.";
      return;
    }
    area.setRangeText(text, start, end, "end");
    area.dispatchEvent(new Event("input", { bubbles: true }));
    area.focus();
    status.textContent = "Inserted “" + option.textContent + "”: edit it before sending.";
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".saved-reply-insert");
    if (button) { insertSavedReply(button); }
  });

  if (document.getElementById("handoff-badge")) {
    poll();
    window.setInterval(poll, POLL_MS);
  }
})();
