// Stepwise labeling pages: keyboard handling, time on item, and the prefetched next item.
//
// The page holds the visible task (#current-slot) and a hidden, already claimed and rendered
// next task (#next-slot). Submit and skip go through htmx (hx-post on the form / button);
// when the request starts, the next task is shown at once and a new hidden one is fetched in
// the background (the same page as an htmx fragment, excluding what the page holds). If the
// server refuses the submit, the previous task comes back with the error. Label choices stay
// in the form (plain radio inputs): nothing is re-rendered while labeling. The keys of each
// project kind are in annotate_keys.js, loaded first.
(function () {
  "use strict";

  var IDLE_MS = 5 * 60 * 1000; // idle gaps beyond this do not count as time on the item
  var DELIMITERS = [
    { left: "$$", right: "$$", display: true },
    { left: "\\[", right: "\\]", display: true },
    { left: "\\(", right: "\\)", display: false },
    { left: "$", right: "$", display: false },
  ];

  var stage = null;
  var kind = "";
  var current = null; // the visible .task
  var inflight = null; // {old, next, action} while a submit or skip is on its way
  var waitingForNext = false;

  // --- math --------------------------------------------------------------------------
  function typeset(root) {
    if (typeof window.renderMathInElement !== "function" || !root) return;
    // The server wraps what it decided is math in .tex; only those are typeset.
    root.querySelectorAll(".tex:not([data-typeset])").forEach(function (el) {
      el.setAttribute("data-typeset", "");
      window.renderMathInElement(el, { delimiters: DELIMITERS, throwOnError: false, trust: false });
    });
  }

  // --- time on item ------------------------------------------------------------------
  function Timer() {
    this.active = 0;
    this.last = Date.now();
  }
  Timer.prototype.touch = function () {
    var now = Date.now();
    // After IDLE_MS without input the clock stops until the next input.
    this.active += Math.min(now - this.last, IDLE_MS);
    this.last = now;
  };
  function touch() {
    if (current && current._timer) current._timer.touch();
  }
  ["keydown", "mousedown", "wheel", "touchstart", "input"].forEach(function (t) {
    document.addEventListener(t, touch, { capture: true, passive: true });
  });
  var lastMove = 0;
  document.addEventListener("mousemove", function () {
    var now = Date.now();
    if (now - lastMove > 2000) { lastMove = now; touch(); }
  }, { passive: true });

  // --- helpers -----------------------------------------------------------------------
  function units(task) {
    if (!task) return [];
    var sel = kind === "dialogue_coding" ? ".transcript .turn" : ".steps .step-card";
    return Array.prototype.slice.call(task.querySelectorAll(sel));
  }
  function curIndex(task) { return task._cur || 0; }
  function setCur(task, i, opts) {
    var list = units(task);
    if (!list.length) return;
    i = Math.max(0, Math.min(list.length - 1, i));
    list.forEach(function (el, n) { el.classList.toggle("is-current", n === i); });
    task.querySelectorAll(".rail-mark").forEach(function (m, n) { m.classList.toggle("is-current", n === i); });
    task._cur = i;
    if (!opts || opts.scroll !== false) {
      list[i].scrollIntoView({ block: kind === "dialogue_coding" ? "center" : "nearest" });
    }
  }
  function curUnit(task) { return units(task)[curIndex(task)]; }
  function check(input) {
    if (!input) return;
    input.checked = true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }
  function isTyping(el) {
    if (!el || !el.tagName) return false;
    var tag = el.tagName.toLowerCase();
    if (tag === "textarea" || tag === "select") return true;
    if (tag !== "input") return el.isContentEditable;
    var type = (el.type || "text").toLowerCase();
    return ["radio", "checkbox", "button", "submit", "hidden"].indexOf(type) < 0;
  }
  function overlayOpen() {
    return Array.prototype.some.call(document.querySelectorAll(".overlay"), function (o) { return !o.hidden; });
  }
  function toast(text) {
    var t = document.getElementById("toast");
    if (!t) return;
    t.textContent = text;
    t.hidden = false;
    clearTimeout(t._timeout);
    t._timeout = setTimeout(function () { t.hidden = true; }, 1400);
  }
  function showError(task, html) {
    var box = task && task.querySelector(".task-error");
    if (box) { box.innerHTML = html; box.scrollIntoView({ block: "nearest" }); }
  }
  function errorText(task, text) {
    var div = document.createElement("div");
    div.className = "alert alert-error";
    div.textContent = text;
    var box = task && task.querySelector(".task-error");
    if (box) { box.innerHTML = ""; box.appendChild(div); box.scrollIntoView({ block: "nearest" }); }
  }

  // Verify-the-model mode: a pre-filled step still showing the model's value, unconfirmed.
  function prefillPending(card) {
    var box = card.querySelector("[data-prefill]");
    if (!box) return false;
    var r = card.querySelector('input[name^="rating-"]:checked');
    var cant = card.querySelector('input[name^="cant-"]:checked');
    var confirm = card.querySelector('input[name^="confirm-"]:checked');
    return !confirm && !cant && !!r && r.value === box.getAttribute("data-prefill");
  }

  // --- per-kind state shown on the page ----------------------------------------------
  function refresh(task) {
    if (!task) return;
    if (kind === "step_labels") {
      var cards = units(task);
      var fe = task.querySelector('input[name="first_error_index"]:checked');
      var feIndex = fe ? parseInt(fe.value, 10) : null;
      var done = 0;
      cards.forEach(function (card) {
        var idx = parseInt(card.getAttribute("data-index"), 10);
        var r = card.querySelector('input[name^="rating-"]:checked');
        var cant = card.querySelector('input[name^="cant-"]');
        card.classList.toggle("rated-wrong", !!r && r.value === "-1");
        card.classList.toggle("rated-neutral", !!r && r.value === "0");
        card.classList.toggle("rated-right", !!r && r.value === "1");
        card.classList.toggle("is-cant", !!(cant && cant.checked));
        card.classList.toggle("prefill-pending", prefillPending(card));
        if (task.getAttribute("data-mode") === "first_error") {
          card.classList.toggle("fe-before", feIndex !== null && (feIndex === -1 || idx < feIndex));
          card.classList.toggle("fe-error", feIndex !== null && idx === feIndex);
          card.classList.toggle("fe-after", feIndex !== null && feIndex !== -1 && idx > feIndex);
        } else if (r || (cant && cant.checked)) {
          done += 1;
        }
      });
      if (task.getAttribute("data-mode") === "first_error") done = feIndex === null ? 0 : cards.length;
      // The rail's markers take the colour of their step's label.
      var marks = task.querySelectorAll(".rail-mark");
      cards.forEach(function (card, n) {
        var m = marks[n];
        if (!m) return;
        var state = "unlabeled";
        if (card.classList.contains("is-cant")) state = "cant";
        else if (card.classList.contains("rated-wrong") || card.classList.contains("fe-error")) state = "wrong";
        else if (card.classList.contains("rated-neutral")) state = "neutral";
        else if (card.classList.contains("rated-right") || card.classList.contains("fe-before")) state = "right";
        m.setAttribute("data-state", state);
      });
      var counter = task.querySelector("[data-rated]");
      if (counter) counter.textContent = done;
    } else if (kind === "dialogue_coding") {
      var turns = units(task);
      var coded = 0;
      var codable = 0;
      turns.forEach(function (turn) {
        if (!turn.querySelector(".codes")) return;
        codable += 1;
        var any = !!turn.querySelector(".codes input:checked");
        turn.classList.toggle("is-coded", any);
        if (any) coded += 1;
      });
      var c = task.querySelector("[data-coded]");
      if (c) c.textContent = coded;
      var bar = task.querySelector("[data-coded-bar]");
      if (bar) bar.style.width = (codable ? Math.round((100 * coded) / codable) : 0) + "%";
    } else if (kind === "preference") {
      var ta = task.querySelector('textarea[name="justification"]');
      var count = task.querySelector("[data-count]");
      if (ta && count) {
        var n = ta.value.trim().length;
        count.textContent = n;
        var min = parseInt(ta.getAttribute("data-min") || "0", 10);
        count.parentNode.classList.toggle("is-short", n < min);
      }
    }
  }
  document.addEventListener("change", function (e) {
    var task = e.target.closest && e.target.closest(".task");
    if (task) refresh(task);
  });
  document.addEventListener("input", function (e) {
    var task = e.target.closest && e.target.closest(".task");
    if (task && e.target.name === "justification") refresh(task);
  });
  // The step rail jumps to a step ("show all" on a long step: long_steps.js).
  document.addEventListener("click", function (e) {
    var mark = e.target.closest && e.target.closest("[data-jump]");
    var task = mark && mark.closest(".task");
    if (mark && task) {
      setCur(task, parseInt(mark.getAttribute("data-jump"), 10));
      var target = curUnit(task);
      if (target) target.scrollIntoView({ block: "start" });
    }
  });
  // A click on a step or turn makes it the current one (keys then act on it).
  document.addEventListener("click", function (e) {
    var task = e.target.closest && e.target.closest(".task");
    if (!task || task !== current) return;
    var unit = e.target.closest(".step-card, .transcript .turn");
    if (unit) {
      var i = units(task).indexOf(unit);
      if (i >= 0) setCur(task, i, { scroll: false });
    }
  });

  // --- client-side checks (the server checks again) ------------------------------------
  function problems(task) {
    var form = task.querySelector("form.task-form");
    if (!form) return null;
    if (kind === "step_labels") {
      var finish = form.querySelector('input[name="finish_reason"]:checked');
      if (finish && (finish.value === "bad_problem" || finish.value === "give_up")) return null;
      if (task.getAttribute("data-mode") === "first_error") {
        if (!form.querySelector('input[name="first_error_index"]:checked')) {
          return { text: "Mark the first wrong step (f), or “no error” (n).", at: 0 };
        }
        return null;
      }
      var missing = [];
      units(task).forEach(function (card, n) {
        var r = card.querySelector('input[name^="rating-"]:checked');
        var cant = card.querySelector('input[name^="cant-"]:checked');
        if (!r && !cant) missing.push(n);
      });
      if (missing.length) {
        return {
          text: "Rate every step or mark it can't judge (missing: " +
            missing.slice(0, 10).map(function (m) { return m + 1; }).join(", ") + ").",
          at: missing[0],
        };
      }
      var pending = [];
      units(task).forEach(function (card, n) { if (prefillPending(card)) pending.push(n); });
      if (pending.length) {
        return {
          text: "Confirm (v) or change the model's label of every pre-filled step (unconfirmed: " +
            pending.slice(0, 10).map(function (m) { return m + 1; }).join(", ") + ").",
          at: pending[0],
        };
      }
    } else if (kind === "dialogue_coding") {
      if (!form.querySelector(".codes input:checked")) return { text: "Code at least one turn.", at: 0 };
    } else if (kind === "preference") {
      if (!form.querySelector('input[name="strength"]:checked')) {
        return { text: "Choose which response is better (keys 1–7).", focus: 'input[name="strength"]' };
      }
      var unrated = Array.prototype.filter.call(form.querySelectorAll("[data-required]"), function (g) {
        return !g.querySelector("input:checked");
      });
      if (unrated.length) {
        return { text: unrated[0].getAttribute("data-required") + " is required: rate it before submitting.",
                 focus: "[data-required] input" };
      }
      var ta = form.querySelector('textarea[name="justification"]');
      var min = ta ? parseInt(ta.getAttribute("data-min") || "0", 10) : 0;
      if (ta && ta.value.trim().length < min) {
        return { text: "Write a justification of at least " + min + " characters.", focus: 'textarea[name="justification"]' };
      }
    }
    return null;
  }
  // Capture phase on the document runs before htmx's own submit handler on the form.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.matches || !form.matches("form.task-form")) return;
    var task = form.closest(".task");
    var p = problems(task);
    if (p) {
      e.preventDefault();
      e.stopPropagation();
      errorText(task, p.text);
      if (p.at !== undefined) setCur(task, p.at);
      if (p.focus) { var f = form.querySelector(p.focus); if (f) f.focus(); }
    } else if (task && task._timer && !form.hasAttribute("hx-post")) {
      // A plain form post (the study pages): the time on item goes in its hidden field.
      task._timer.touch();
      var field = form.querySelector('input[name="active_ms"]');
      if (field) field.value = String(Math.round(task._timer.active));
    }
  }, true);

  // --- the stream: optimistic swap to the prefetched task ------------------------------
  function nextTask() {
    var slot = document.getElementById("next-slot");
    return slot ? slot.querySelector(".task") : null;
  }
  function start(task) {
    current = task;
    if (!task) return;
    task._timer = task._timer || (task.hasAttribute("data-assignment") ? new Timer() : null);
    typeset(task);
    refresh(task);
    setCur(task, curIndex(task), { scroll: false });
  }
  function show(task) {
    document.getElementById("current-slot").appendChild(task);
    task.hidden = false;
    document.getElementById("loading-panel").hidden = true;
    window.scrollTo(0, 0);
    start(task);
    prefetch();
  }
  function prefetch() {
    var url = stage && stage.getAttribute("data-next-url");
    if (!url || !current || !current.hasAttribute("data-assignment") || typeof htmx === "undefined") return;
    var ids = [current.getAttribute("data-assignment")];
    if (inflight && inflight.old) ids.push(inflight.old.getAttribute("data-assignment"));
    var q = ids.map(function (id) { return "exclude=" + encodeURIComponent(id); }).join("&");
    htmx.ajax("GET", url + "?" + q, { target: "#next-slot", swap: "innerHTML" }).then(function () {
      var nxt = nextTask();
      if (nxt) typeset(nxt);
      if (waitingForNext && nxt) { waitingForNext = false; show(nxt); }
    });
  }
  function actionOf(elt) {
    if (!elt || !elt.matches) return null;
    if (elt.matches("form.task-form")) return "submit";
    return elt.getAttribute("data-action");
  }
  document.addEventListener("htmx:configRequest", function (e) {
    var elt = e.detail.elt;
    var action = actionOf(elt);
    if (action !== "submit" && action !== "skip") return;
    var task = elt.closest(".task");
    if (task && task._timer) {
      task._timer.touch();
      e.detail.parameters["active_ms"] = String(Math.round(task._timer.active));
    }
    var nxt = nextTask();
    if (nxt && nxt.getAttribute("data-assignment")) {
      e.detail.parameters["next_assignment"] = nxt.getAttribute("data-assignment");
    }
  });
  document.addEventListener("htmx:beforeRequest", function (e) {
    var elt = e.detail.elt;
    var action = actionOf(elt);
    if (action !== "submit" && action !== "skip") return;
    var old = elt.closest(".task");
    if (!old || old !== current || !stage || stage.hasAttribute("data-static")) return;
    var nxt = nextTask();
    inflight = { old: old, next: nxt, action: action, elt: elt };
    old.hidden = true;
    var box = old.querySelector(".task-error");
    if (box) box.innerHTML = "";
    if (nxt) {
      show(nxt);
    } else {
      // The background fetch has not answered yet: show it as soon as it does.
      waitingForNext = true;
      current = null;
      document.getElementById("loading-panel").hidden = false;
    }
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    if (!inflight || e.detail.elt !== inflight.elt) return;
    var done = inflight;
    inflight = null;
    if (e.detail.successful) {
      done.old.remove();
      toast(done.action === "skip" ? "Skipped" : "Saved ✓");
      return;
    }
    // Refused or unreachable: bring the task back with the reason; its form (and client
    // token) is unchanged, so submitting again is safe.
    waitingForNext = false;
    var shown = current;
    if (shown && shown !== done.old) {
      shown.hidden = true;
      var slot = document.getElementById("next-slot");
      slot.innerHTML = "";
      slot.appendChild(shown);
    }
    document.getElementById("loading-panel").hidden = true;
    done.old.hidden = false;
    current = done.old;
    var xhr = e.detail.xhr;
    if (xhr && xhr.status === 422 && xhr.responseText) showError(done.old, xhr.responseText);
    else errorText(done.old, "Could not reach the server. Your labels are still here: try again.");
  });

  // --- keyboard ------------------------------------------------------------------------
  function toggleOverlay(id, force) {
    var el = document.getElementById(id);
    if (!el) return;
    el.hidden = force === undefined ? !el.hidden : !force;
  }
  document.addEventListener("click", function (e) {
    var t = e.target.closest && e.target.closest("[data-toggle]");
    if (!t) return;
    var id = t.getAttribute("data-toggle");
    var el = document.getElementById(id);
    if (!el) return;
    el.hidden = !el.hidden;
    t.setAttribute("aria-expanded", String(!el.hidden));
  });

  function submit(task) {
    var form = task && task.querySelector("form.task-form");
    if (form) form.requestSubmit();
  }
  function openSkip(task) {
    var box = task.querySelector(".skip-box");
    if (!box) return;
    box.open = true;
    var input = box.querySelector("[data-skip-reason]");
    if (input) input.focus();
  }

  document.addEventListener("keydown", function (e) {
    if (!stage) return;
    var t = e.target;
    if (e.key === "Escape") {
      toggleOverlay("keymap", false);
      if (current) current.querySelectorAll("details.pop[open]").forEach(function (d) { d.open = false; });
      return;
    }
    var note = document.getElementById("content-note");
    if (note && !note.hidden) return; // the note's own button handles Enter
    if (e.key === "?" && !isTyping(t)) { toggleOverlay("keymap"); e.preventDefault(); return; }
    if (overlayOpen() || !current || e.altKey) return;
    // Review: Shift+Enter saves the final label and opens the next disagreement (in the
    // note's textarea, where Shift+Enter is a new line: Ctrl+Shift+Enter).
    var saveNext = e.key === "Enter" && e.shiftKey && current.querySelector("[data-save-next]");
    if (saveNext) {
      var inText = t && t.tagName && t.tagName.toLowerCase() === "textarea";
      if (!inText || e.ctrlKey || e.metaKey) {
        e.preventDefault();
        var sform = current.querySelector("form.task-form");
        if (sform) sform.requestSubmit(saveNext);
        return;
      }
    }
    if (e.key === "Enter") {
      if (t && t.matches && t.matches("[data-skip-reason]")) {
        e.preventDefault();
        var btn = current.querySelector('[data-action="skip"]');
        if (btn) btn.click();
        return;
      }
      if (t && t.tagName && t.tagName.toLowerCase() === "textarea") {
        if (e.ctrlKey || e.metaKey) { e.preventDefault(); submit(current); }
        return;
      }
      if (t && t.closest && t.closest("button, summary, a, .pop")) return; // activate it
      e.preventDefault();
      submit(current);
      return;
    }
    if (e.ctrlKey || e.metaKey || isTyping(t)) return;
    if (e.key === "s" && current.querySelector(".skip-box")) { e.preventDefault(); openSkip(current); return; }
    var kindKeys = (window.StepwiseKindKeys || {})[kind];
    if (kindKeys && kindKeys(current, e, ui)) e.preventDefault();
  });

  // What the per-kind key handlers (annotate_keys.js) may use.
  var ui = { units: units, curIndex: curIndex, setCur: setCur, curUnit: curUnit, check: check,
             refresh: refresh };

  // --- start ---------------------------------------------------------------------------
  function init() {
    stage = document.getElementById("stage");
    if (!stage) return;
    kind = stage.getAttribute("data-kind") || "";
    typeset(document.body);
    var slot = document.getElementById("current-slot");
    var first = (slot || stage).querySelector(".task");
    var note = document.getElementById("content-note");
    if (note && !note.hidden) {
      current = first;
      if (first) { typeset(first); refresh(first); setCur(first, 0, { scroll: false }); }
      var form = note.querySelector("form");
      form.addEventListener("submit", function () {
        note.hidden = true;
        start(first); // time on the first item starts once the note is read
      });
    } else {
      start(first);
    }
    document.querySelectorAll("#next-slot .task").forEach(typeset);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
