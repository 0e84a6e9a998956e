/*
 * MS Pain & Migraine chat widget: one <script> tag on the clinic's site.
 *
 *   <script src="https://assistant.example.org/widget.js" defer
 *           data-server-url="https://assistant.example.org:5005"
 *           data-title="Questions about ketamine therapy?"></script>
 *
 * It talks to Rasa's socket.io channel (bot/channels/socketio.py) and keeps its
 * session id in localStorage, so a reload or a dropped connection continues the same
 * conversation; the server sends the history back. Every text is inserted as text
 * (never as HTML). Served by bot/widget/server.py after the socket.io client, which
 * it receives as `io`.
 *
 * Under each curated answer: its source in the clinic's article (a link to the
 * section on `data-article-url`, default the widget server's /article) and
 * "Helpful" / "Not helpful" buttons; a vote goes to the server as `answer_feedback`
 * (bot/channels/feedback.py), never as a chat message. "Download this conversation"
 * saves what the log shows as a plain-text file, made in the browser.
 */
/* global io */
(function (script) {
  "use strict";

  var MAX_CHARS = 1000; // what the assistant reads (bot.nlu.components.InputGuard)
  var TYPING_TIMEOUT_MS = 20000;
  var STORAGE_KEY = "msp-chat-session";
  var OPEN_KEY = "msp-chat-open";

  var serverUrl = (script.getAttribute("data-server-url") || "").replace(/\/$/, "");
  var title = script.getAttribute("data-title") || "Questions? Chat with us";
  var assetBase = script.src.replace(/[^/]*$/, "");
  var articleUrl = script.getAttribute("data-article-url") || assetBase + "article";
  var NOTE = "General information only, not medical advice. In an emergency call 911.";
  var REASON_CHARS = 500; // bot.db.tables.feedback.MAX_REASON_LENGTH

  var socket = null;
  var sessionId = null;
  var typingTimer = null;
  var greeted = false;
  var pendingNotice = null; // shown once the next history has arrived
  var queued = []; // [message, shown] typed before the session was confirmed
  var ui = {};
  var answers = {}; // answer id -> its feedback controls

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      node.setAttribute(name, attrs[name]);
    });
    if (text) node.textContent = text;
    return node;
  }

  function storage(method, key, value) {
    try {
      return window.localStorage[method](key, value);
    } catch (e) {
      return null; // private mode or storage disabled: the chat still works
    }
  }

  // Bot text with links: URLs become links that open in a new tab, safely.
  function appendText(node, text) {
    var url = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)]/g;
    var last = 0;
    var match;
    while ((match = url.exec(text)) !== null) {
      node.appendChild(document.createTextNode(text.slice(last, match.index)));
      var link = el("a", {
        href: match[0],
        target: "_blank",
        rel: "noopener noreferrer nofollow",
      }, match[0]);
      node.appendChild(link);
      last = match.index + match[0].length;
    }
    node.appendChild(document.createTextNode(text.slice(last)));
  }

  function build() {
    var link = el("link", { rel: "stylesheet", href: assetBase + "widget.css" });
    document.head.appendChild(link);

    var root = el("div", { class: "msp-chat", "data-msp-chat": "" });
    ui.launcher = el("button", {
      type: "button",
      class: "msp-chat__launcher",
      "aria-expanded": "false",
      "aria-controls": "msp-chat-panel",
    }, title);
    ui.panel = el("section", {
      id: "msp-chat-panel",
      class: "msp-chat__panel",
      "aria-labelledby": "msp-chat-title",
      hidden: "",
    });

    var header = el("header", { class: "msp-chat__header" });
    header.appendChild(el("h2", { id: "msp-chat-title", class: "msp-chat__title" },
      "MS Pain & Migraine assistant"));
    ui.download = el("button", {
      type: "button", class: "msp-chat__download", "aria-label": "Download this conversation",
    }, "Download");
    ui.restart = el("button", { type: "button", class: "msp-chat__restart" }, "Start over");
    ui.close = el("button", {
      type: "button", class: "msp-chat__close", "aria-label": "Close the chat",
    }, "\u00d7");
    var actions = el("div", { class: "msp-chat__actions" });
    actions.appendChild(ui.download);
    actions.appendChild(ui.restart);
    actions.appendChild(ui.close);
    header.appendChild(actions);

    ui.status = el("p", { class: "msp-chat__status", role: "status" });
    ui.log = el("div", {
      class: "msp-chat__log",
      role: "log",
      "aria-live": "polite",
      "aria-label": "Conversation",
      tabindex: "0",
    });
    ui.typing = el("p", { class: "msp-chat__typing", hidden: "" }, "The assistant is typing\u2026");

    ui.form = el("form", { class: "msp-chat__form" });
    var label = el("label", { for: "msp-chat-input", class: "msp-chat__label" },
      "Type your question");
    ui.input = el("textarea", {
      id: "msp-chat-input",
      class: "msp-chat__input",
      rows: "2",
      "aria-describedby": "msp-chat-note",
      autocomplete: "off",
    });
    ui.note = el("p", { id: "msp-chat-note", class: "msp-chat__note" }, NOTE);
    ui.send = el("button", { type: "submit", class: "msp-chat__send" }, "Send");
    ui.form.appendChild(label);
    ui.form.appendChild(ui.input);
    ui.form.appendChild(ui.send);
    ui.form.appendChild(ui.note);

    ui.panel.appendChild(header);
    ui.panel.appendChild(ui.status);
    ui.panel.appendChild(ui.log);
    ui.panel.appendChild(ui.typing);
    ui.panel.appendChild(ui.form);
    root.appendChild(ui.panel);
    root.appendChild(ui.launcher);
    document.body.appendChild(root);

    ui.launcher.addEventListener("click", function () {
      setOpen(ui.panel.hidden);
    });
    ui.close.addEventListener("click", function () {
      setOpen(false);
    });
    ui.restart.addEventListener("click", restart);
    ui.download.addEventListener("click", download);
    ui.panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") setOpen(false);
    });
    ui.input.addEventListener("input", checkLength);
    ui.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      }
    });
    ui.form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit();
    });
  }

  function setOpen(open) {
    ui.panel.hidden = !open;
    ui.launcher.setAttribute("aria-expanded", String(open));
    storage("setItem", OPEN_KEY, open ? "1" : "0");
    if (open) {
      connect();
      ui.input.focus();
    } else {
      ui.launcher.focus();
    }
  }

  function checkLength() {
    var over = ui.input.value.length - MAX_CHARS;
    if (over > 0) {
      ui.note.textContent = "Your message is " + over + " characters too long. " +
        "Please keep it under " + MAX_CHARS + " characters, or send it in parts.";
      ui.note.classList.add("msp-chat__note--warning");
      ui.send.disabled = true;
    } else {
      ui.note.textContent = NOTE;
      ui.note.classList.remove("msp-chat__note--warning");
      ui.send.disabled = false;
    }
  }

  function scrollToEnd() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function clearQuickReplies() {
    var groups = ui.log.querySelectorAll(".msp-chat__replies");
    Array.prototype.forEach.call(groups, function (group) {
      group.parentNode.removeChild(group);
    });
  }

  // A staff reply names the person (visible), so the patient knows a human answered.
  // A curated answer (`answer`: id, key, source, anchor) shows its source and the
  // feedback buttons under its last paragraph.
  function addMessage(sender, text, quickReplies, staffName, answer) {
    var item = el("div", { class: "msp-chat__msg msp-chat__msg--" + sender });
    if (staffName) {
      item.classList.add("msp-chat__msg--staff");
      item.appendChild(el("span", { class: "msp-chat__staff" },
        staffName + ", clinic staff:"));
    } else {
      item.appendChild(el("span", { class: "msp-chat__who" },
        sender === "user" ? "You:" : "Assistant:"));
    }
    var bubble = el("p", { class: "msp-chat__bubble" });
    if (sender === "bot") appendText(bubble, text || "");
    else bubble.textContent = text;
    item.appendChild(bubble);
    if (sender === "bot" && answer && answer.id && !staffName) addAnswerTools(item, answer);
    ui.log.appendChild(item);
    if (quickReplies && quickReplies.length) {
      var group = el("div", {
        class: "msp-chat__replies", role: "group", "aria-label": "Suggested replies",
      });
      quickReplies.forEach(function (reply) {
        var button = el("button", { type: "button", class: "msp-chat__reply" },
          reply.title);
        button.addEventListener("click", function () {
          send(reply.payload, reply.title);
          ui.input.focus();
        });
        group.appendChild(button);
      });
      ui.log.appendChild(group);
    }
    scrollToEnd();
  }

  function addAnswerTools(item, answer) {
    if (answer.source) {
      var source = el("p", { class: "msp-chat__source" }, "From the clinic's article: ");
      var href = articleUrl + (answer.anchor ? "#" + answer.anchor : "");
      var link = el("a", { href: href, target: "_blank", rel: "noopener noreferrer" },
        answer.source);
      link.appendChild(el("span", { class: "msp-chat__hidden" }, " (opens in a new tab)"));
      source.appendChild(link);
      item.appendChild(source);
    }
    var labelId = "msp-chat-fb-" + answer.id.replace(/\W/g, "-");
    var group = el("div", {
      class: "msp-chat__feedback", role: "group", "aria-labelledby": labelId,
    });
    group.appendChild(el("span", { id: labelId, class: "msp-chat__feedback-label" },
      "Was this answer helpful?"));
    var controls = { id: answer.id, vote: null, buttons: {} };
    [["helpful", "Helpful"], ["not_helpful", "Not helpful"]].forEach(function (choice) {
      var button = el("button", {
        type: "button", class: "msp-chat__vote", "aria-pressed": "false",
      }, choice[1]);
      button.addEventListener("click", function () {
        if (controls.vote !== choice[0]) sendVote(controls, choice[0], null);
      });
      controls.buttons[choice[0]] = button;
      group.appendChild(button);
    });
    item.appendChild(group);
    controls.reason = buildReasonForm(controls);
    item.appendChild(controls.reason);
    controls.status = el("p", { class: "msp-chat__feedback-status", "aria-live": "polite" });
    item.appendChild(controls.status);
    answers[answer.id] = controls;
    if (answer.vote) showVote(controls, answer.vote, false);
  }

  // After "Not helpful": an optional short reason, sent with the same vote.
  function buildReasonForm(controls) {
    var fieldId = "msp-chat-reason-" + controls.id.replace(/\W/g, "-");
    var form = el("form", { class: "msp-chat__reason", hidden: "" });
    form.appendChild(el("label", { for: fieldId, class: "msp-chat__reason-label" },
      "What was missing or unclear? (optional)"));
    var field = el("textarea", {
      id: fieldId, class: "msp-chat__reason-input", rows: "2",
      maxlength: String(REASON_CHARS), autocomplete: "off",
    });
    form.appendChild(field);
    form.appendChild(el("button", { type: "submit", class: "msp-chat__reason-send" },
      "Send reason"));
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var reason = field.value.trim().slice(0, REASON_CHARS);
      if (reason) sendVote(controls, "not_helpful", reason);
    });
    controls.field = field;
    return form;
  }

  function sendVote(controls, vote, reason) {
    if (!socket || !sessionId) return;
    controls.pending = reason;
    controls.status.textContent = "Sending\u2026";
    socket.emit("answer_feedback", {
      session_id: sessionId, answer_id: controls.id, vote: vote, reason: reason,
    });
  }

  function showVote(controls, vote, fresh) {
    controls.vote = vote;
    Object.keys(controls.buttons).forEach(function (choice) {
      controls.buttons[choice].setAttribute("aria-pressed", String(choice === vote));
    });
    var reasonSent = fresh && controls.pending;
    var showForm = vote === "not_helpful" && fresh && !reasonSent;
    if (!showForm && controls.reason.contains(document.activeElement)) {
      controls.buttons[vote].focus(); // the form goes: focus stays near
    }
    controls.reason.hidden = !showForm;
    if (showForm && controls.reason.scrollIntoView) {
      controls.reason.scrollIntoView({ block: "nearest" }); // below the fold, else
    }
    if (reasonSent) controls.field.value = "";
    controls.pending = null;
  }

  function setTyping(on) {
    clearTimeout(typingTimer);
    ui.typing.hidden = !on;
    if (on) {
      typingTimer = setTimeout(function () { ui.typing.hidden = true; }, TYPING_TIMEOUT_MS);
    }
  }

  function setStatus(text) {
    ui.status.textContent = text;
    ui.status.classList.toggle("msp-chat__status--visible", Boolean(text));
  }

  function emitMessage(message) {
    socket.emit("user_uttered", { message: message, session_id: sessionId });
  }

  function send(message, shown) {
    if (!socket) return;
    if (!sessionId) {
      // Typed before the server confirmed the session (a slow connection, or
      // right after "Start over"): kept, and sent once the session is there.
      queued.push([message, shown]);
      setStatus("Connecting\u2026 Your message will be sent.");
      return;
    }
    if (socket.connected) setStatus(""); // e.g. the note that the chat started over
    clearQuickReplies();
    addMessage("user", shown || message);
    setTyping(true);
    emitMessage(message);
  }

  function submit() {
    var text = ui.input.value.trim();
    if (!text || text.length > MAX_CHARS) return;
    ui.input.value = "";
    checkLength();
    send(text);
  }

  // A new conversation: the server takes this socket out of the old one's room,
  // so nothing of the previous conversation reaches this screen any more.
  function newSession() {
    storage("removeItem", STORAGE_KEY);
    sessionId = null;
    ui.log.textContent = "";
    answers = {};
    greeted = false;
    setTyping(false);
    if (socket) socket.emit("session_request", { session_id: null });
  }

  // The conversation as the log shows it, as a plain-text file made in the browser.
  function transcript() {
    var lines = ["MS Pain & Migraine assistant: conversation of " +
      new Date().toLocaleString(), NOTE, ""];
    var items = ui.log.querySelectorAll(".msp-chat__msg");
    Array.prototype.forEach.call(items, function (item) {
      var who = item.querySelector(".msp-chat__staff, .msp-chat__who");
      var bubble = item.querySelector(".msp-chat__bubble");
      lines.push((who ? who.textContent : "") + " " + (bubble ? bubble.textContent : ""));
      var source = item.querySelector(".msp-chat__source a");
      if (source) {
        lines.push("  (From the clinic's article: " + source.firstChild.textContent + ")");
      }
    });
    return lines.join("\n") + "\n";
  }

  function download() {
    var now = new Date();
    var day = [now.getFullYear(), now.getMonth() + 1, now.getDate()].map(function (n) {
      return n < 10 ? "0" + n : String(n);
    }).join("-");
    var url = URL.createObjectURL(new Blob([transcript()], { type: "text/plain;charset=utf-8" }));
    var link = el("a", { href: url, download: "ms-pain-chat-" + day + ".txt", hidden: "" });
    document.body.appendChild(link);
    link.click();
    document.body.removeChild(link);
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  }

  function restart() {
    newSession();
    ui.input.focus();
  }

  function connect() {
    if (socket) return;
    socket = io(serverUrl, { path: "/socket.io", transports: ["websocket", "polling"] });
    socket.on("connect", function () {
      if (!pendingNotice) setStatus("");
      socket.emit("session_request", { session_id: storage("getItem", STORAGE_KEY) });
    });
    socket.on("session_confirm", function (id) {
      sessionId = id;
      storage("setItem", STORAGE_KEY, id);
    });
    socket.on("history", function (data) {
      ui.log.textContent = "";
      answers = {};
      (data.messages || []).forEach(function (m) {
        addMessage(m.sender, m.text, m.quick_replies, m.staff_name, m.answer);
      });
      if (pendingNotice) {
        setStatus(pendingNotice);
        pendingNotice = null;
      }
      if (!(data.messages || []).length && !greeted) {
        greeted = true; // a new conversation: the notice and a greeting
        setTyping(true);
        emitMessage("/greet");
      }
      queued.splice(0).forEach(function (item) {
        send(item[0], item[1]);
      });
    });
    socket.on("bot_uttered", function (message) {
      setTyping(false);
      if (message && (message.text || (message.quick_replies || []).length)) {
        addMessage("bot", message.text || "", message.quick_replies, message.staff_name,
          message.answer);
      }
    });
    socket.on("feedback_saved", function (data) {
      var controls = data && answers[data.answer_id];
      if (!controls) return;
      showVote(controls, data.vote, true);
      controls.status.textContent = data.text || "Thanks for your feedback.";
    });
    socket.on("feedback_error", function (data) {
      var controls = data && answers[data.answer_id];
      if (controls) controls.status.textContent = data.text || "";
      else if (data && data.text) setStatus(data.text);
    });
    // The server closed an idle session (WIDGET_SESSION_IDLE_MINUTES): start over.
    socket.on("session_expired", function (problem) {
      pendingNotice = (problem && problem.text) || "This chat has started over.";
      newSession();
    });
    socket.on("chat_error", function (problem) {
      setTyping(false);
      if (problem && problem.text) addMessage("bot", problem.text);
    });
    socket.on("disconnect", function () {
      setStatus("Reconnecting\u2026 Your conversation is kept.");
    });
    socket.on("connect_error", function () {
      setStatus("Reconnecting\u2026 Your conversation is kept.");
    });
  }

  function start() {
    build();
    if (storage("getItem", OPEN_KEY) === "1") {
      ui.panel.hidden = false;
      ui.launcher.setAttribute("aria-expanded", "true");
      connect();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})(document.currentScript);
