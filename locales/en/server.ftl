# Holdfast — English: messages the server words outside templates
# (validation and errors for the API and pages, public intake replies).

intake-form-received = Thank you. We will be in touch.

invalid-empty = must not be empty
invalid-nul = must not contain NUL characters
invalid-control = must not contain control character { $char }
invalid-too-long = is { $len } characters long; at most { $max } are allowed
invalid-url = must be an http or https URL
invalid-phone-length = must have 1 to 40 characters
invalid-phone = “{ $value }” is not a phone number
invalid-phone-country = include the country code (e.g. +995 …)
invalid-email-length = is longer than 254 characters
invalid-email = “{ $value }” is not an email address
invalid-too-many-contacts = at most { $max } phones and { $max } emails
invalid-too-many-tags = at most { $max } tags
invalid-status = “{ $value }” is not a status in the list
invalid-status-code = use 1 to 32 lower-case letters, digits or _
invalid-owner-unknown = there is no such user
invalid-owner-cannot-own = this user cannot own clients
invalid-cursor = is not a cursor this server issued
invalid-query = use at most 200 characters
invalid-call-duration = a call lasts at most a day
invalid-in-future = is in the future
invalid-before-1970 = is before 1970
invalid-form-contact = give an email address or a phone number
invalid-username = a username has 1 to 64 letters, digits or . _ - @
invalid-team-name = a team name has 1 to 100 characters
invalid-display-name = a display name has at most 200 characters
invalid-role = unknown role “{ $value }” (owner, admin, manager or sales)
password-too-short = the password must have at least { $min } characters
password-too-long = the password must have at most { $max } bytes
password-nul = the password must not contain NUL characters
setup-link-invalid = this set-up link is invalid, used or expired

not-allowed-assign-owner = assigning a client to this user is outside your scope
not-allowed-statuses = only owners edit the status list

api-error-unauthenticated = sign in first
api-error-bad_credentials = wrong username or password
api-error-forbidden = your role does not allow this
api-error-csrf_failed = the request did not come from a Holdfast page (CSRF check failed)
api-error-not_found = not found
api-error-throttled = too many attempts; try again later
api-error-audit_unavailable = the audit log is unavailable, so the request was not carried out
api-error-unavailable = the service is not available
api-error-internal = internal error

api-error-key_proof_required = hardware key proof required: run `holdfast key login` with a challenge from this session
api-error-key_step_up_required = this action needs a fresh hardware key proof: run `holdfast key login` again
key-attestation-refused = the key's attestation was refused: { $reason }
key-rejected = the hardware key request was refused ({ $reason })
not-allowed-manage-owner = only an owner manages an owner's account and keys
invalid-too-long-filter = use at most { $max } characters
invalid-period-order = the end of the period is before its start
invalid-period-too-long = a period covers at most { $max } days
invalid-time = use a date (2026-11-22) or a time (2026-11-22T09:30:00Z)
last-owner = the last active owner cannot be disabled: make another user an owner first

## Data-loss controls
invalid-export-object = what to export: clients, deals or invoices
invalid-export-filter-object = this filter does not apply to this export (deals take status and owner_id; invoices take status)
invalid-export-state = use ready, pending, rejected or expired
invalid-base64 = is not base64
invalid-trace-clue = give one of email, phone or file_base64
not-allowed-approve-own = nobody approves or rejects their own request
invalid-reassign-count = name 1 to { $max } clients
invalid-owner-use-reassign = the owner changes only through a reassignment (POST /api/v1/reassignments, with a reason)
departure-confirm-needed = tick the confirmation box to go ahead
invalid-departure-assign = client { $client } is not in the leaving user’s book
