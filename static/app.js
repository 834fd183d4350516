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

// Security keys in the browser (WebAuthn) on /keys/elevate: the server sends the
// options for navigator.credentials, this passes them to the browser and posts
// the key's answer back; the page is then reloaded and rendered by the server.
(function () {
  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var raw = window.atob(b64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      out[i] = raw.charCodeAt(i);
    }
    return out.buffer;
  }

  function toText(buffer) {
    if (!buffer) {
      return null;
    }
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) {
      raw += String.fromCharCode(bytes[i]);
    }
    return window.btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withBytes(list) {
    return (list || []).map(function (c) {
      var copy = Object.assign({}, c);
      copy.id = toBytes(c.id);
      return copy;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.getElementById("webauthn");
    if (!section) {
      return;
    }
    var status = document.getElementById("webauthn-status");
    var csrf = section.getAttribute("data-csrf");

    function say(text) {
      status.textContent = text;
      status.hidden = false;
    }

    if (!window.PublicKeyCredential || !navigator.credentials) {
      say(section.getAttribute("data-unsupported"));
      return;
    }

    function post(path, body) {
      return fetch(path, {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: JSON.stringify(body),
      }).then(function (res) {
        return res.json().catch(function () {
          return {};
        }).then(function (data) {
          if (!res.ok) {
            var message = data && data.error ? data.error.message : String(res.status);
            throw new Error(message);
          }
          return data;
        });
      });
    }

    function failed(err) {
      say(section.getAttribute("data-error") + " " + (err && err.message ? err.message : String(err)));
    }

    var login = document.getElementById("webauthn-login");
    if (login) {
      login.hidden = false;
      login.addEventListener("click", function () {
        post("/api/v1/keys/webauthn/login/begin", {})
          .then(function (begin) {
            var options = begin.public_key.publicKey;
            options.challenge = toBytes(options.challenge);
            options.allowCredentials = withBytes(options.allowCredentials);
            return navigator.credentials.get({ publicKey: options }).then(function (cred) {
              return post("/api/v1/keys/webauthn/login/finish", {
                ceremony: begin.ceremony,
                credential: {
                  id: cred.id,
                  rawId: toText(cred.rawId),
                  type: cred.type,
                  response: {
                    authenticatorData: toText(cred.response.authenticatorData),
                    clientDataJSON: toText(cred.response.clientDataJSON),
                    signature: toText(cred.response.signature),
                    userHandle: toText(cred.response.userHandle),
                  },
                  extensions: {},
                },
              });
            });
          })
          .then(function () {
            window.location.reload();
          }, failed);
      });
    }

    var form = document.getElementById("webauthn-register-form");
    if (form) {
      form.hidden = false;
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var label = document.getElementById("webauthn-label").value;
        post("/api/v1/keys/webauthn/register/begin", {
          code: document.getElementById("webauthn-code").value,
          label: label || null,
        })
          .then(function (begin) {
            var options = begin.public_key.publicKey;
            options.challenge = toBytes(options.challenge);
            options.user.id = toBytes(options.user.id);
            options.excludeCredentials = withBytes(options.excludeCredentials);
            return navigator.credentials.create({ publicKey: options }).then(function (cred) {
              var transports = cred.response.getTransports ? cred.response.getTransports() : null;
              return post("/api/v1/keys/webauthn/register/finish", {
                ceremony: begin.ceremony,
                credential: {
                  id: cred.id,
                  rawId: toText(cred.rawId),
                  type: cred.type,
                  response: {
                    attestationObject: toText(cred.response.attestationObject),
                    clientDataJSON: toText(cred.response.clientDataJSON),
                    transports: transports,
                  },
                  extensions: {},
                },
              });
            });
          })
          .then(function () {
            window.location.reload();
          }, failed);
      });
    }
  });
})();

// CSV import: the chosen file goes up as it is (the raw body of the API's
// upload, never re-encoded by a form), then the preview page opens.
(function () {
  "use strict";
  var form = document.getElementById("import-upload");
  if (!form) return;
  var error = document.getElementById("import-error");
  function show(message) {
    error.textContent = message;
    error.hidden = false;
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = document.getElementById("import-file");
    var file = input.files && input.files[0];
    if (!file) return;
    var button = document.getElementById("import-submit");
    button.disabled = true;
    error.hidden = true;
    fetch("/api/v1/imports?file_name=" + encodeURIComponent(file.name), {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/octet-stream",
        "X-CSRF-Token": form.getAttribute("data-csrf"),
      },
      body: file,
    })
      .then(function (res) {
        return res.json().then(function (body) {
          if (res.ok && body.id) {
            window.location.href = "/imports/" + encodeURIComponent(body.id);
            return;
          }
          show((body.error && body.error.message) || String(res.status));
          button.disabled = false;
        });
      })
      .catch(function (e) {
        show(String(e));
        button.disabled = false;
      });
  });
})();
