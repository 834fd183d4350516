#!/bin/sh
# The restore drill: the newest backup, fully decrypted and checked against its
# signed manifest, restored into a scratch database, its audit chain verified.
# Run it on a schedule (cron, a systemd timer) on a machine that holds the age
# identity; the Holdfast server itself never does. Exit status: 0 good, 2 the
# backup is bad (an alert is raised for the admins), 1 the drill could not run.
#
#   backup/drill.sh /secure/holdfast-backup-key.txt [--dest DIR] [holdfast.toml]
#
# Example crontab line (Mondays 04:00, mail on failure):
#   0 4 * * 1  /opt/holdfast/backup/drill.sh /secure/key.txt || mail -s "Holdfast restore drill FAILED" it@example.com < /var/log/holdfast-drill.log
set -eu
identity=${1:?usage: drill.sh IDENTITY_FILE [--dest DIR] [CONFIG]}
shift
dest=""
if [ "${1:-}" = "--dest" ]; then
    dest="--dest ${2:?--dest needs a directory}"
    shift 2
fi
config=${1:-${HOLDFAST_CONFIG:-holdfast.toml}}
# The binary (DRILL_ prefix: HOLDFAST_* variables are configuration keys).
holdfast=${DRILL_HOLDFAST_BIN:-holdfast}
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# shellcheck disable=SC2086
if "$holdfast" --config "$config" backup drill --identity "$identity" $dest --json > "${TMPDIR:-/tmp}/holdfast-drill.json"; then
    echo "$started restore drill OK: $(tr -d '\n' < "${TMPDIR:-/tmp}/holdfast-drill.json" | head -c 400)"
else
    status=$?
    echo "$started RESTORE DRILL FAILED (exit $status); see the admins' alerts and the audit log (backup.drill)" >&2
    exit "$status"
fi
