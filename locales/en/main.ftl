# Holdfast — English
app-name = Holdfast
nav-clients = Clients
nav-new-client = New client
nav-sign-out = Sign out
nav-signed-in-as = Signed in as { $name }

error-not-found = This page does not exist, or you do not have access to it.
error-forbidden = Your role does not allow this.
error-csrf = This form has expired or did not come from Holdfast. Go back, reload the page and try again.
error-throttled = Too many attempts. Wait a few minutes and try again.
error-unavailable = Holdfast cannot record this action right now, so it was not carried out. Try again shortly.
error-internal = Something went wrong on our side. Quote the request id below when you report it.
error-request-id = Request id: { $id }
error-back = Back to clients

login-title = Sign in
login-username = Username
login-password = Password
login-submit = Sign in
login-failed = Wrong username or password.
login-throttled = Too many failed attempts. Try again in a few minutes.

setup-title = Set the owner's password
setup-intro = This one-time link sets the password of the first owner account. It works once.
setup-password = New password (at least 12 characters)
setup-password-again = The same password again
setup-submit = Set password
setup-mismatch = The two passwords differ.
setup-invalid = This set-up link is invalid, used or expired. Run `holdfast init` for a new one.
setup-done = Password set. Sign in as { $username }.
