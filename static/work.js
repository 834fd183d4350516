// Progressive enhancement for deals and tasks; every form works without it.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // Forms that read a time say which zone the reader is in.
  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) {
    zone = "";
  }
  document.querySelectorAll("input.tz-field").forEach(function (input) {
    input.value = zone;
  });

  // A lost stage needs a reason: show the field when it is chosen.
  document.querySelectorAll("form.move-form").forEach(function (form) {
    var select = form.querySelector("select[name=stage]");
    if (!select) return;
    var sync = function () {
      var option = select.options[select.selectedIndex];
      form.classList.toggle("needs-reason", !!(option && option.hasAttribute("data-lost")));
    };
    select.addEventListener("change", sync);
    sync();
  });

  var board = document.getElementById("pipeline");
  if (!board) return;
  document.documentElement.classList.add("js");

  // Dragging a card onto another column chooses that stage in the card's own
  // form and sends it; the server decides as for the form. Pointer events, so
  // mouse, pen and touch all work.
  var drag = null;

  function columnAt(x, y) {
    var el = document.elementFromPoint(x, y);
    return el ? el.closest(".pipeline-col") : null;
  }

  function clearTargets() {
    board.querySelectorAll(".drop-target").forEach(function (c) {
      c.classList.remove("drop-target");
    });
  }

  function finish(event) {
    if (!drag) return;
    var d = drag;
    drag = null;
    document.removeEventListener("pointermove", move);
    document.removeEventListener("pointerup", finish);
    document.removeEventListener("pointercancel", cancel);
    d.card.classList.remove("dragging");
    d.card.style.transform = "";
    clearTargets();
    if (!d.moved) return;
    var column = columnAt(event.clientX, event.clientY);
    if (!column || column === d.from) return;
    var form = d.card.querySelector("form.move-form");
    var select = form && form.querySelector("select[name=stage]");
    if (!select) return;
    select.value = column.getAttribute("data-stage");
    if (select.value !== column.getAttribute("data-stage")) return;
    if (column.hasAttribute("data-lost")) {
      // A lost deal needs its reason before it is sent.
      form.classList.add("needs-reason");
      var reason = form.querySelector("input[name=lost_reason]");
      column.querySelector(".deal-cards").appendChild(d.card);
      if (reason) reason.focus();
      return;
    }
    form.requestSubmit();
  }

  function cancel() {
    if (!drag) return;
    drag.card.classList.remove("dragging");
    drag.card.style.transform = "";
    clearTargets();
    drag = null;
    document.removeEventListener("pointermove", move);
    document.removeEventListener("pointerup", finish);
    document.removeEventListener("pointercancel", cancel);
  }

  function move(event) {
    if (!drag) return;
    var dx = event.clientX - drag.x;
    var dy = event.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 6) return;
    drag.moved = true;
    drag.card.classList.add("dragging");
    drag.card.style.transform = "translate(" + dx + "px, " + dy + "px)";
    clearTargets();
    var column = columnAt(event.clientX, event.clientY);
    if (column && column !== drag.from) column.classList.add("drop-target");
  }

  board.querySelectorAll(".deal-card").forEach(function (card) {
    card.classList.add("draggable");
    card.addEventListener("pointerdown", function (event) {
      if (event.button !== 0 || drag) return;
      if (event.target.closest("a, button, select, input, textarea, label")) return;
      event.preventDefault();
      drag = {
        card: card,
        from: card.closest(".pipeline-col"),
        x: event.clientX,
        y: event.clientY,
        moved: false,
      };
      document.addEventListener("pointermove", move);
      document.addEventListener("pointerup", finish);
      document.addEventListener("pointercancel", cancel);
    });
  });
});
