// The incident page, live: polls GET <page>/live?after=<newest event id> every few seconds with
// If-None-Match (304 while nothing changed), prepends the server-rendered events and swaps the
// header, controls and facts, except a part holding a form someone is typing in. Also the
// keyboard shortcuts (n, u, Ctrl+Enter) and "Copy to clipboard". No framework, no inline code.
(function () {
  "use strict";
  var POLL_MS = 3000;
  var room = document.querySelector("[data-live]");
  if (!room) {
    return;
  }
  var after = room.getAttribute("data-after");
  var tab = room.getAttribute("data-tab") || "all";
  var etag = null;
  var timer = null;

  function typingIn(element) {
    if (element.contains(document.activeElement) && document.activeElement !== document.body) {
      return true;
    }
    var fields = element.querySelectorAll("input:not([type=hidden]), textarea, select");
    for (var i = 0; i < fields.length; i += 1) {
      var field = fields[i];
      var changed = field.type === "checkbox" || field.type === "radio"
        ? field.checked !== field.defaultChecked
        : field.value !== field.defaultValue;
      if (changed) {
        return true;
      }
    }
    var open = element.querySelectorAll("details[open]");
    return open.length > 0 && element.id === "controls";
  }

  function replaceRegion(id, html) {
    var current = document.getElementById(id);
    if (!current || typingIn(current)) {
      return;
    }
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fresh = holder.firstElementChild;
    if (fresh) {
      current.replaceWith(fresh);
    }
  }

  function addEvents(items) {
    var list = document.getElementById("timeline-events");
    if (!list || items.length === 0) {
      return;
    }
    var empty = list.querySelector(".empty");
    if (empty) {
      empty.remove();
    }
    // Older first in the reply: each goes on top, so the newest ends up first.
    items.forEach(function (html) {
      var holder = document.createElement("ol");
      holder.innerHTML = html;
      var item = holder.firstElementChild;
      if (item && !document.getElementById(item.id)) {
        item.classList.add("fresh");
        showCopyButtons(item);
        list.insertBefore(item, list.firstElementChild);
      }
    });
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, POLL_MS);
  }

  function poll() {
    if (document.hidden) {
      return; // resumed by visibilitychange: a background tab costs the server nothing
    }
    var headers = etag ? { "If-None-Match": etag } : {};
    var url = room.getAttribute("data-live") + "?after=" + encodeURIComponent(after) +
      "&show=" + encodeURIComponent(tab);
    fetch(url, { headers: headers, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 200) {
          etag = response.headers.get("ETag");
          return response.json().then(function (body) {
            addEvents(body.events);
            Object.keys(body.regions).forEach(function (id) {
              replaceRegion(id, body.regions[id]);
            });
            after = String(body.after);
            room.setAttribute("data-after", after);
          });
        }
        return null;
      })
      .catch(function () { return null; }) // offline for a moment: try again next time
      .then(schedule);
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      poll();
    }
  });

  // Keyboard: n → the note box, u → the update box; Ctrl+Enter sends the form typed in.
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var inField = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement ||
      target instanceof HTMLSelectElement;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && inField && target.form) {
      event.preventDefault();
      target.form.requestSubmit();
      return;
    }
    if (inField || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (event.key === "n" || event.key === "u") {
      var box = document.getElementById(event.key === "n" ? "entry-body" : "update-body");
      if (box) {
        var details = box.closest("details");
        if (details) {
          details.open = true;
        }
        event.preventDefault();
        box.focus();
      }
    }
  });

  // "Copy to clipboard" for an official update's text (the text stays selectable without it).
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (button && navigator.clipboard) {
      var text = document.getElementById(button.getAttribute("data-copy")).textContent;
      navigator.clipboard.writeText(text).then(function () {
        button.textContent = "Copied";
      });
    }
  });
  function showCopyButtons(scope) {
    scope.querySelectorAll("[data-copy]").forEach(function (button) {
      button.hidden = !navigator.clipboard;
    });
  }
  showCopyButtons(document);

  // The details panel comes folded (a phone shows the actions first); beside the timeline,
  // from 900 px, it opens.
  if (window.matchMedia("(min-width: 900px)").matches) {
    document.querySelectorAll(".facts-panel").forEach(function (panel) {
      panel.open = true;
    });
  }
  var check = document.querySelector(".check-new");
  if (check) {
    check.parentElement.hidden = true; // live updates make the no-JavaScript link needless
  }
  schedule();
}());
