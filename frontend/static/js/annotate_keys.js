// Keyboard handlers of the labeling form, one per project kind (the project's `kind`, as the
// page's #stage[data-kind] names it). annotate.js calls `StepwiseKindKeys[kind](task, event,
// ui)` for keys it does not handle itself; a handler returns true when it used the key. `ui`
// holds annotate.js's helpers: units, curIndex, setCur, curUnit, check, refresh.
(function () {
  "use strict";

  function stepKeys(task, e, ui) {
    var key = e.key;
    var card = ui.curUnit(task);
    var idx = card ? card.getAttribute("data-index") : null;
    var fe = task.getAttribute("data-mode") === "first_error";
    var values = { "1": "-1", "2": "0", "3": "1", "-": "-1", "0": "0", "+": "1", "=": "1" };
    if (key === "j" || key === "ArrowDown") { ui.setCur(task, ui.curIndex(task) + 1); return true; }
    if (key === "k" || key === "ArrowUp") { ui.setCur(task, ui.curIndex(task) - 1); return true; }
    if (!card) return false;
    if (key === "u" && !fe) {
      // The next step without a rating or "can't judge", after the current one, wrapping.
      var list = ui.units(task);
      var from = ui.curIndex(task);
      for (var d = 1; d <= list.length; d++) {
        var n = (from + d) % list.length;
        var c = list[n];
        if (!c.querySelector('input[name^="rating-"]:checked') && !c.querySelector('input[name^="cant-"]:checked')) {
          ui.setCur(task, n);
          return true;
        }
      }
      return true;
    }
    if (!fe && values[key] !== undefined) {
      ui.check(card.querySelector('input[name="rating-' + idx + '"][value="' + values[key] + '"]'));
      ui.setCur(task, ui.curIndex(task) + 1);
      return true;
    }
    if (key === "f") {
      if (fe) ui.check(card.querySelector('input[name="first_error_index"]'));
      else ui.check(card.querySelector('input[name="rating-' + idx + '"][value="-1"]'));
      return true;
    }
    if (key === "n") {
      if (fe) ui.check(task.querySelector('input[name="first_error_index"][value="-1"]'));
      else ui.check(task.querySelector('input[name="finish_reason"][value="solution"]'));
      return true;
    }
    if (key === "c" && !fe) {
      var cant = card.querySelector('input[name^="cant-"]');
      if (cant) { cant.checked = !cant.checked; cant.dispatchEvent(new Event("change", { bubbles: true })); }
      return true;
    }
    if (key === "v" && !fe) {
      // Verify-the-model mode: confirm the model's pre-filled label of this step.
      var confirm = card.querySelector('input[name^="confirm-"]');
      if (confirm) { confirm.checked = !confirm.checked; confirm.dispatchEvent(new Event("change", { bubbles: true })); }
      return !!confirm;
    }
    return false;
  }

  function dialogueKeys(task, e, ui) {
    var key = e.key;
    if (key === "j" || key === "ArrowDown") { ui.setCur(task, ui.curIndex(task) + 1); return true; }
    if (key === "k" || key === "ArrowUp") { ui.setCur(task, ui.curIndex(task) - 1); return true; }
    var turn = ui.curUnit(task);
    if (!turn) return false;
    if (/^[1-9]$/.test(key)) {
      var group = turn.querySelector(".codes");
      if (!group) return true;
      var inputs = group.querySelectorAll("input");
      var n = parseInt(key, 10);
      if (n > inputs.length) return true;
      ui.check(inputs[n - 1]);
      // Move on to the next turn that takes a code.
      var list = ui.units(task);
      for (var i = ui.curIndex(task) + 1; i < list.length; i++) {
        if (list[i].querySelector(".codes")) { ui.setCur(task, i); break; }
      }
      return true;
    }
    if (key === "Backspace" || key === "Delete") {
      turn.querySelectorAll(".codes input:checked").forEach(function (inp) { inp.checked = false; });
      ui.refresh(task);
      return true;
    }
    return false;
  }

  function preferenceKeys(task, e, ui) {
    var key = e.key;
    if (!/^[1-7]$/.test(key)) return false;
    var n = parseInt(key, 10);
    var group = document.activeElement && document.activeElement.closest && document.activeElement.closest("[data-keygroup]");
    if (group && task.contains(group)) {
      var inputs = group.querySelectorAll("input");
      if (n <= inputs.length) { ui.check(inputs[n - 1]); inputs[n - 1].focus(); }
      return true;
    }
    ui.check(task.querySelector('input[name="strength"][value="' + (n - 4) + '"]'));
    return true;
  }

  window.StepwiseKindKeys = {
    step_labels: stepKeys,
    dialogue_coding: dialogueKeys,
    preference: preferenceKeys,
  };
})();
