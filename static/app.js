// Progressive enhancement only; every page works without it.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // Ask before destructive posts (delete). The server decides either way.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });

  // Times are rendered in UTC; show them in the reader's time zone, keeping
  // the UTC text as a tooltip.
  var lang = document.documentElement.lang || undefined;
  var format;
  try {
    format = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
  } catch (e) {
    format = null;
  }
  if (format) {
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        el.title = el.textContent;
        el.textContent = format.format(when);
      }
    });
  }

  // Ctrl/Cmd+Enter in a note sends it.
  document.querySelectorAll("#note-body, #call-body").forEach(function (area) {
    area.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && area.form) {
        event.preventDefault();
        area.form.requestSubmit();
      }
    });
  });
});
