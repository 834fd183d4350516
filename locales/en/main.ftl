# Holdfast — English
app-name = Holdfast
nav-clients = Clients
nav-new-client = New client
nav-audit = Audit log
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

## Shared
time-utc = { $time } UTC
number-group = ,
number-decimal = .
form-cancel = Cancel
form-fix-errors = Some fields need attention; see the messages below.
form-kind-invalid = Choose person or company.

## Client list
clients-title = Clients
clients-deleted-title = Deleted clients
clients-new = New client
clients-search = Search
clients-search-hint = Name, company, phone or email
clients-search-submit = Search
clients-status = Status
clients-any-status = Any status
clients-tag = Tag
clients-duplicates = Possible duplicates only
clients-deleted = Deleted clients
clients-clear = Clear filters
clients-page = Page
clients-pages = Pages
clients-first-page = First page
clients-next-page = Next page
clients-none-match = No clients match these filters.
clients-none-yet = No clients yet. Create the first one with “New client”.
clients-col-name = Name
clients-col-company = Company
clients-col-status = Status
clients-col-updated = Updated
clients-col-actions = Actions
clients-duplicate-badge = possible duplicate

## Client form
client-new-title = New client
client-edit-title = Edit { $name }
client-back-to-list = Back to clients
client-back-to-card = Back to the card
client-field-kind = Type
client-kind-person = Person
client-kind-company = Company
client-field-name = Name
client-field-company = Company
client-field-status = Status
client-field-source = Source
client-source-hint = e.g. website, referral, call
client-field-address = Address
client-field-tags = Tags
client-tags-hint = Separate tags with commas.
client-field-phones = Phones
client-phones-hint = One per line, with the country code. A label may follow a comma: +995 555 12 34 56, mobile
client-field-emails = Emails
client-emails-hint = One per line. A label may follow a comma: nino@example.ge, work
client-create = Create client
client-save = Save changes

## Client card
client-details = Details
client-none = none
client-owner = Owner
client-team = Team
client-created = Created
client-updated = Updated
client-edit = Edit
client-delete = Delete
client-delete-confirm = Delete this client? An owner can restore it later.
client-restore = Restore
client-duplicate-warning = Possible duplicate: another client already has one of these phone numbers or email addresses.
client-duplicate-open = Open the other card
notice-created = Client created.
notice-saved = Changes saved.
notice-note-added = Note added.
notice-call-logged = Call logged.
notice-restored = Client restored.
notice-deleted = Client deleted. An owner can restore it from the deleted clients.

note-title = Add a note
note-body = Note
note-placeholder = What happened, what was agreed…
note-submit = Add note

call-title = Log a call
call-direction = Direction
call-outbound = Outgoing
call-inbound = Incoming
call-minutes = Minutes
call-minutes-hint = e.g. 5 or 3:20
call-outcome = Outcome
call-note = Note
call-submit = Log call
call-direction-invalid = Choose incoming or outgoing.
call-minutes-invalid = Enter minutes as a number (5, 2.5) or as minutes:seconds (3:20).
call-outcome-reached = Reached
call-outcome-no-answer = No answer
call-outcome-busy = Busy
call-outcome-voicemail = Voicemail
call-outcome-call-back = Call back later

duration-minutes = { $n ->
    [one] { $n } min
   *[other] { $n } min
}
duration-seconds = { $n ->
    [one] { $n } s
   *[other] { $n } s
}

timeline-title = Timeline
timeline-empty = Nothing here yet.
timeline-more = Older entries
timeline-newest = Back to the newest entries
tl-note = Note
tl-call = Call
tl-call-inbound = Incoming call
tl-call-outbound = Outgoing call
tl-email = Email
tl-email-inbound = Email received
tl-email-outbound = Email sent
tl-meeting = Meeting
tl-created = Card created
tl-deleted = Card deleted
tl-restored = Card restored
tl-status-change = Status changed
tl-owner-change = Owner changed
tl-change-arrow = →
tl-none = none
tl-recording = Listen to the recording

deals-title = Deals
deals-none = No deals yet.
deals-col-title = Deal
deals-col-stage = Stage
deals-col-amount = Amount
deals-col-close = Expected close
deal-stage-new = New
deal-stage-qualified = Qualified
deal-stage-proposal = Proposal
deal-stage-negotiation = Negotiation
deal-stage-won = Won
deal-stage-lost = Lost

keys-elevate-title = Hardware key
keys-not-elevated = This session has no hardware-key proof. Owners and admins need one before they see client data or change anything.
keys-elevated-until = This session is elevated until { $until }.
keys-new-challenge = Get a challenge
keys-run-login = On the computer with your YubiKey, run this command (it asks for your PIN and a touch). Only this browser session is elevated by it.
keys-login-command = holdfast key login --challenge { $token }
keys-challenge-expires = The challenge works once, within { $seconds } seconds.
keys-continue = Continue
error-key-proof = Prove with your hardware key first.
keys-yours = Your keys
keys-none = You have no hardware key yet. Ask an owner or admin for an enrollment code, then run `holdfast key enroll` on the computer with your YubiKey.
keys-line-name = { $name }
keys-line-serial = serial { $serial }
keys-line-enrolled = enrolled { $date }
keys-line-revoked = revoked
admin-keys-title = Hardware keys
admin-keys-col-user = User
admin-keys-col-keys = Keys
admin-keys-col-actions = Actions
admin-keys-none = no key
admin-keys-last-used = last used { $when }
admin-keys-revoke = Revoke
admin-keys-issue = Issue enrollment code
admin-keys-revoked = The key is revoked; the sessions it elevated have ended.
admin-keys-code-for = One-time enrollment code for { $user } (shown once):
admin-keys-code-until = Valid until { $until }. Give it to the user in person; they run `holdfast key enroll --code …` with their YubiKey.
keys-manage = Manage the keys of all users (owners and admins)

## Audit log (owners)
audit-title = Audit log
audit-back = Back to the audit log
audit-export = Export CSV
audit-verify-title = Last verification of the log
audit-verify-ok = The chain was intact: no event had been edited, removed, reordered or inserted.
audit-verify-broken = The chain was broken. Investigate before trusting older events.
audit-verify-when = Checked
audit-verify-events = Events checked
audit-verify-head = Newest position
audit-verify-by = Run by
audit-verify-first-break = First break
audit-verify-break-at = at position { $seq }
audit-verify-never = The log has not been verified yet. Run “holdfast audit verify” on the server.
audit-filter-action = Action
audit-filter-actor = Who
audit-filter-outcome = Result
audit-filter-object = Record id
audit-filter-from = From
audit-filter-to = To
audit-filter-request = Request id
audit-filter-text = Text in the details
audit-filter-submit = Filter
audit-anyone = Anyone
audit-any-outcome = Any result
audit-outcome-ok = Done
audit-outcome-denied = Refused
audit-outcome-failed = Failed
audit-events-title = Events
audit-no-events = No events.
audit-no-events-here = No matching events in this part of the log. Older events may still match: see older events.
audit-no-recent-events = Nobody touched this client among the most recent events of the log. Older events are under “All events for this client”.
audit-older = Older events
audit-newest = Newest events
audit-more-objects = { $n ->
    [one] and { $n } more
   *[other] and { $n } more
}
audit-request = request { $id }
audit-anonymous = unknown
audit-col-when = When
audit-col-who = Who
audit-col-what = What
audit-col-objects = Records
audit-col-from = From
audit-col-detail = Details
audit-touch-viewed = viewed
audit-touch-changed = changed
audit-touch-reassigned = reassigned
audit-touch-exported = exported
audit-touch-denied = refused
audit-touch-failed = failed
audit-touch-sign-in = sign-in
audit-touch-other = other
audit-people-title = Activity per person
audit-client-title = Who touched this client
audit-client-all = All events for this client
audit-user-title = Activity of { $name }
audit-user-all-events = All their events in this period
audit-user-truncated = This period holds more events than one page reads; the numbers below are incomplete. Choose a shorter period.
audit-period-submit = Show
audit-period-hint = Days are in UTC. A period covers at most 92 days.
audit-summary-title = In this period
audit-sum-distinct = Distinct clients viewed
audit-sum-reads = Reads
audit-sum-changes = Changes
audit-sum-exports = Exports
audit-sum-reassignments = Reassignments
audit-sum-denials = Refusals
audit-sum-sign-ins = Sign-ins
audit-sum-failed-sign-ins = Failed sign-ins
audit-chart-heading = Distinct clients viewed per day
audit-chart-title = Distinct clients viewed per day by { $name }
audit-chart-bar = { $day } clients
audit-chart-max = highest day: { $n }
audit-no-reads = No client was viewed in this period.
audit-col-day = Day
audit-col-distinct = Distinct clients
audit-col-reads = Reads
audit-exports-title = Exports
audit-reassignments-title = Reassignments
audit-denials-title = Refusals
audit-sign-ins-title = Sign-ins and where from
audit-none = None in this period.
audit-break-edited = An event was edited
audit-break-missing = Events were deleted
audit-break-misplaced = Events were reordered or inserted
audit-break-link-broken = The link between two events is broken
audit-break-unchained = An event was inserted by hand
audit-break-truncated = The newest events were removed
audit-break-head-mismatch = The recorded head does not match the last event
audit-break-rewritten = History was rewritten after a signed checkpoint
audit-break-bad-checkpoint = A checkpoint was altered or forged
audit-break-unknown-key = A checkpoint is signed by an unknown key
