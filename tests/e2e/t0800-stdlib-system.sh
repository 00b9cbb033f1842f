#!/bin/sh
# t0800 — the system modules of the stdlib (service, apt, nginx, certbot),
# every action, through small runbooks against the shims of tests/shims
# (systemctl, service, apt-get, reboot, nginx, certbot; the real openssl
# reads the certificates the certbot shim makes):
#  - success paths: the shims' state afterwards (units, packages, flags,
#    certificate files) is what the action says;
#  - checks that catch a lie: a unit that stays active after `stop`
#    (unit-faults/NAME = stuck), a package that says "Setting up" and stays
#    pending, a renewal that leaves an expiring certificate, a reload that
#    leaves nginx down;
#  - known errors give their hints (unknown unit, dpkg lock, broken nginx
#    configuration, unreachable domain);
#  - rollback: the undos put back the state found (a unit stopped only if
#    this run started it, a flag removed only if this run made it, a
#    certificate deleted only if this run created it), and say so where
#    nothing can be put back (upgrades, reloads);
#  - `runbook plan --check` runs the probes (their captures in the preview)
#    and changes nothing (digest before/after);
#  - every module lints clean.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/sandbox.sh"

sandbox stdlib-system

# unit NAME: the unit's state in the shim
unit() { cat "$SHIM_STATE/units/$1" 2>/dev/null; }
# is WHAT ACTUAL EXPECTED
is() { check "$1" test "$2" = "$3"; }
# seed_units NAME=STATE...: the units, nothing else
seed_units() {
	rm -rf "$SHIM_STATE/units" "$SHIM_STATE/unit-faults" "$SHIM_STATE/unit-enabled" "$SHIM_STATE/unit-reloads"
	mkdir -p "$SHIM_STATE/units"
	for u in "$@"; do echo "${u#*=}" >"$SHIM_STATE/units/${u%%=*}"; done
	: >"$SHIM_STATE/calls.log"
}
fault() { mkdir -p "$SHIM_STATE/unit-faults" && echo "$2" >"$SHIM_STATE/unit-faults/$1"; }

# --- lint --------------------------------------------------------------------

rb lint "$TOP/stdlib/service.yml" "$TOP/stdlib/apt.yml" "$TOP/stdlib/nginx.yml" "$TOP/stdlib/certbot.yml"
expect_rc 0 "the four modules lint without errors"
err_has "4 files: 0 errors, 0 warnings"

# --- service -----------------------------------------------------------------

svc=$(file rb-svc.yml <<'EOF'
runbook: svc
params:
  fail: { default: "no", choices: ["yes", "no"] }
steps:
  - id: stop-apache
    uses: service.stop
    with: { unit: apache2 }
  - id: stop-nginx
    uses: service.stop
    with: { unit: nginx.service }
  - id: start-redis
    uses: service.start
    with: { unit: redis }
  - id: start-cron
    uses: service.start
    with: { unit: cron }
  - id: restart-sup
    uses: service.restart
    with: { unit: supervisor }
  - id: restart-mail
    uses: service.restart
    with: { unit: postfix }
  - id: reload-sup
    uses: service.reload
    with: { unit: supervisor }
  - id: st-apache
    uses: service.status
    with: { unit: apache2 }
  - id: sup-up
    uses: service.is-active
    with: { unit: supervisor }
  - id: en-cron
    uses: service.enabled
    with: { unit: cron }
  - id: enable-redis
    uses: service.enable
    with: { unit: redis }
  - id: disable-cron
    uses: service.disable
    with: { unit: cron }
  - id: show
    note: "apache2 is {{ steps.st-apache.stdout }}, cron was {{ steps.en-cron.stdout }}"
  - id: boom
    when: fail == "yes"
    run: echo "injected failure"; exit 1
EOF
)
reset_svc() {
	seed_units apache2=active nginx=inactive redis=failed cron=active supervisor=active postfix=inactive
	mkdir -p "$SHIM_STATE/unit-enabled"
	echo disabled >"$SHIM_STATE/unit-enabled/redis"
}

reset_svc
rb run "$svc"
expect_rc 0 "service: a clean run"
is "service.stop: apache2 stopped" "$(unit apache2)" inactive
is "service.stop: an inactive unit stays inactive" "$(unit nginx)" inactive
is "service.start: a failed unit is active" "$(unit redis)" active
is "service.start: an active unit stays active" "$(unit cron)" active
is "service.restart: active" "$(unit supervisor)" active
is "service.restart: an inactive unit is started" "$(unit postfix)" active
called "systemctl restart supervisor"
is "service.reload: reloaded once" "$(cat "$SHIM_STATE/unit-reloads/supervisor" 2>/dev/null)" 1
out_has "apache2 is inactive, cron was enabled"
is "service.enable: redis enabled" "$(cat "$SHIM_STATE/unit-enabled/redis")" enabled
is "service.disable: cron disabled" "$(cat "$SHIM_STATE/unit-enabled/cron")" disabled

# the same run, failing at the end: every undo puts back what it found
reset_svc
rb run "$svc" -p fail=yes
expect_rc 1 "service: a failure at the end"
out_has "rolled back"
is "rollback: apache2 (was active) started again" "$(unit apache2)" active
is "rollback: nginx (was inactive) stays stopped" "$(unit nginx)" inactive
not_called "systemctl start nginx"
is "rollback: redis (was failed) stopped again" "$(unit redis)" inactive
is "rollback: cron (was active) left running" "$(unit cron)" active
not_called "systemctl stop cron"
is "rollback: supervisor (was active) left running" "$(unit supervisor)" active
is "rollback: postfix (was inactive, restart started it) stopped" "$(unit postfix)" inactive
out_has "the reload of supervisor is not taken back"
is "rollback: redis disabled again" "$(cat "$SHIM_STATE/unit-enabled/redis")" disabled
is "rollback: cron enabled again" "$(cat "$SHIM_STATE/unit-enabled/cron")" enabled

# a unit that says it stopped and is still running: the check catches it
reset_svc
fault apache2 stuck
rb run "$svc"
expect_rc 1 "service.stop: a unit that stays active fails the step"
out_has "check"
is "the lying unit is still active" "$(unit apache2)" active
not_called "systemctl stop nginx"

# a unit that does not start: the hint says where to look
reset_svc
fault redis fail-start
rb run "$svc"
expect_rc 1 "service.start: a unit that fails to start fails the step"
out_has "redis.service did not start: read journalctl -xeu redis.service"
is "rollback after the failed start: apache2 running again" "$(unit apache2)" active

# known errors
one=$(file rb-one.yml <<'EOF'
runbook: one
params:
  unit: { required: true }
  action: { choices: [stop, start, reload] }
steps:
  - id: stop
    when: action == "stop"
    uses: service.stop
    with: { unit: "{{ unit }}" }
  - id: reload
    when: action == "reload"
    uses: service.reload
    with: { unit: "{{ unit }}" }
EOF
)
reset_svc
rb run "$one" -p unit=nosuch -p action=stop
expect_rc 1 "service.stop of an unknown unit fails"
out_has "there is no unit nosuch.service on this host"
rb run "$one" -p unit=postfix -p action=reload
expect_rc 1 "service.reload of a stopped unit fails"
out_has "postfix is not running: start it (service.start)"
rb run "$one" -p unit='nginx;touch pwned' -p action=stop
expect_rc 1 "a unit name outside the pattern is refused"
check "no injection through the unit name" test ! -e pwned -a ! -e "$SB/pwned"

# plan --check: the probes run (the states read), nothing changes
reset_svc
fault cron stuck
d0=$(digest "$SB")
rb plan "$svc" --check
expect_rc 0 "service: plan --check passes"
out_has "checked: ok"
check "plan --check ran the state probes" grep -q "systemctl is-active apache2" "$SHIM_STATE/calls.log"
not_called "systemctl stop"
not_called "systemctl start"
not_called "systemctl restart"
not_called "systemctl reload"
is "service: plan --check changed nothing" "$(digest "$SB")" "$d0"


# --- apt ---------------------------------------------------------------------

A=$SHIM_STATE/apt
pkg() { awk -v p="$1" '$1 == p { print $2 }' "$A/installed"; }
reset_apt() {
	rm -rf "$A"
	mkdir -p "$A"
	printf '%s\n' "libssl3 3.0.9-1" "linux-image-amd64 6.1.0-17" "nginx 1.22.1-9" "openssl 3.0.9-1" \
		"python3-old 1.0" "tzdata 2023c-5" >"$A/installed"
	# known to the lists now, and brought by the next update
	printf '%s\n' "openssl 3.0.11-1" "libssl3 3.0.11-1" >"$A/pending"
	printf '%s\n' "linux-image-amd64 6.1.0-18 reboot" "nginx 1.22.1-10 conffile" "tzdata 2024a-0 new-deps" \
		>"$A/available"
	echo "python3-old 1.0" >"$A/autoremovable"
	python3 -c 'import uuid; print(uuid.uuid4())' >"$SHIM_STATE/boot_id"
	rm -f "$SHIM_STATE/reboots"
	: >"$SHIM_STATE/calls.log"
}
aptrb=$(file rb-apt.yml <<'EOF'
runbook: apt-all
params:
  shim: { required: true }
  dist: { default: "false", choices: ["true", "false"] }
  only_required: { default: "true", choices: ["true", "false"] }
  fail: { default: "no", choices: ["yes", "no"] }
steps:
  - id: update
    uses: apt.update
  - id: upgrade
    uses: apt.upgrade
    with: { dist: "{{ dist }}" }
  - id: autoremove
    uses: apt.autoremove
  - id: needs
    uses: apt.reboot-required
    with: { flag: "{{ shim }}/apt/reboot-required" }
  - id: show
    note: "{{ steps.needs.stdout }}"
  - id: boom
    when: fail == "yes"
    run: echo "injected failure"; exit 1
  - id: reboot
    uses: apt.reboot
    with:
      when_required: "{{ only_required }}"
      flag: "{{ shim }}/apt/reboot-required"
      boot_id: "{{ shim }}/boot_id"
      delay: "1"
EOF
)

reset_apt
boot0=$(cat "$SHIM_STATE/boot_id")
rb run "$aptrb" -p shim="$SHIM_STATE"
expect_rc 0 "apt: a clean run (update, upgrade, autoremove, reboot)"
called "apt-get -q -o DPkg::Lock::Timeout=300 update"
check "apt.update: the lists were refreshed" test -e "$A/updated"
is "apt.upgrade: openssl upgraded" "$(pkg openssl)" 3.0.11-1
is "apt.upgrade: the kernel brought by update upgraded" "$(pkg linux-image-amd64)" 6.1.0-18
is "apt.upgrade: a changed conffile is kept without a question" "$(pkg nginx)" 1.22.1-10
is "apt.upgrade: a package needing new dependencies is kept back (not dist)" "$(pkg tzdata)" 2023c-5
is "apt.autoremove: the unneeded package removed" "$(pkg python3-old)" ""
out_has "required: yes"
out_has "packages: linux-image-amd64"
is "apt.reboot: rebooted once" "$(cat "$SHIM_STATE/reboots" 2>/dev/null)" 1
check "apt.reboot: a new boot id" test "$(cat "$SHIM_STATE/boot_id")" != "$boot0"
check "apt.reboot: the reboot-required flag is gone" test ! -e "$A/reboot-required"
out_has "rebooting in 1 s"

# dist: true takes the package that needs new dependencies; nothing needs
# a reboot afterwards, so when_required leaves the host alone
reset_apt
rm -f "$A/available"
echo "tzdata 2024a-0 new-deps" >"$A/pending"
boot0=$(cat "$SHIM_STATE/boot_id")
rb run "$aptrb" -p shim="$SHIM_STATE" -p dist=true
expect_rc 0 "apt: dist-upgrade run"
called "dist-upgrade"
is "apt.upgrade dist: the package with new dependencies upgraded" "$(pkg tzdata)" 2024a-0
out_has "required: no"
check "apt.reboot when_required: no reboot" test ! -e "$SHIM_STATE/reboots"
is "apt.reboot when_required: the same boot id" "$(cat "$SHIM_STATE/boot_id")" "$boot0"
not_called "reboot"

# a package that says "Setting up" and stays pending: the check catches it
reset_apt
echo "openssl 3.0.11-1 stuck" >"$A/pending"
rb run "$aptrb" -p shim="$SHIM_STATE"
expect_rc 1 "apt.upgrade: a package left pending fails the step"
out_has "check failed"
not_called "autoremove"
check "apt: no reboot after the failed upgrade" test ! -e "$SHIM_STATE/reboots"

# the dpkg lock held by unattended-upgrades
reset_apt
touch "$A/lock"
rb run "$aptrb" -p shim="$SHIM_STATE"
expect_rc 1 "apt.update: a held dpkg lock fails the step"
out_has "/var/lib/dpkg/lock-frontend is held by process 4242 (unattended-upgr): wait for it to finish"
is "apt: nothing upgraded while locked" "$(pkg openssl)" 3.0.9-1

# a failure after the upgrade: the undos say what cannot be taken back
reset_apt
rb run "$aptrb" -p shim="$SHIM_STATE" -p fail=yes
expect_rc 1 "apt: a failure after the upgrade"
out_has "4 package(s) were upgraded: apt cannot downgrade them"
out_has "to reinstall what it removed: apt-get install python3-old"
out_has "the package lists are not put back"
is "apt: the upgrade stays (honestly) after the rollback" "$(pkg openssl)" 3.0.11-1
check "apt: no reboot before the failure point" test ! -e "$SHIM_STATE/reboots"

# plan --check: what would be upgraded and removed, nothing changed
reset_apt
rm -f "$A/available"
echo "linux-image-amd64 6.1.0-18 reboot" >>"$A/pending"
echo "*** System restart required ***" >"$A/reboot-required"
d0=$(digest "$SB")
rb plan "$aptrb" -p shim="$SHIM_STATE" --check
expect_rc 0 "apt: plan --check passes"
out_has "Inst linux-image-amd64 [6.1.0-17] (6.1.0-18"
out_has "to remove: python3-old"
out_has "not checked (reads 'steps.schedule.rc'"
not_called "reboot"
not_called "apt-get -q -y"
is "apt: plan --check changed nothing" "$(digest "$SB")" "$d0"

# --- nginx -------------------------------------------------------------------

WWW=$SB/var/www
N=$SHIM_STATE/nginx
reset_nginx() {
	seed_units nginx=active
	rm -rf "$N" "$WWW"
	mkdir -p "$N" "$WWW"
}
ngx=$(file rb-nginx.yml <<'EOF'
runbook: ngx
params:
  www: { required: true }
  fail: { default: "no", choices: ["yes", "no"] }
steps:
  - id: conf
    uses: nginx.test
  - id: maint-on
    uses: nginx.maintenance-on
    with: { flag: "{{ www }}/maintenance.on" }
  - id: reload
    uses: nginx.reload
  - id: old-off
    uses: nginx.maintenance-off
    with: { flag: "{{ www }}/old.flag" }
  - id: boom
    when: fail == "yes"
    run: echo "injected failure"; exit 1
  - id: maint-off
    uses: nginx.maintenance-off
    with: { flag: "{{ www }}/maintenance.on" }
EOF
)

reset_nginx
touch "$WWW/old.flag"
rb run "$ngx" -p www="$WWW"
expect_rc 0 "nginx: a clean run"
called "nginx -t"
is "nginx.reload: reloaded once (after the test)" "$(cat "$SHIM_STATE/unit-reloads/nginx" 2>/dev/null)" 1
check "nginx.maintenance-on then -off: no flag left" test ! -e "$WWW/maintenance.on"
check "nginx.maintenance-off: the other flag removed" test ! -e "$WWW/old.flag"
is "nginx still active" "$(unit nginx)" active

# the flag is on while the failure happens: the rollback takes it off, and
# puts back the flag it removed
reset_nginx
touch "$WWW/old.flag"
rb run "$ngx" -p www="$WWW" -p fail=yes
expect_rc 1 "nginx: a failure with the maintenance flag on"
check "rollback: the maintenance flag this run made is removed" test ! -e "$WWW/maintenance.on"
check "rollback: the flag this run removed is back" test -e "$WWW/old.flag"
out_has "the reload of nginx is not taken back"

# a flag that was there before the run stays after the rollback
reset_nginx
touch "$WWW/maintenance.on"
rb run "$ngx" -p www="$WWW" -p fail=yes
expect_rc 1 "nginx: a failure with a flag that existed before"
check "rollback: a flag that existed before is kept" test -e "$WWW/maintenance.on"
check "rollback: maintenance-off of an absent flag puts nothing back" test ! -e "$WWW/old.flag"

# a broken configuration: the test fails with nginx's message, the
# running server is not reloaded
reset_nginx
echo 'nginx: [emerg] unknown directive "proxy_passs" in /etc/nginx/sites-enabled/lino:31' >"$N/broken"
rb run "$ngx" -p www="$WWW"
expect_rc 1 "nginx.test: a broken configuration fails"
out_has 'the nginx configuration is broken: unknown directive "proxy_passs" in /etc/nginx/sites-enabled/lino:31'
not_called "systemctl reload nginx"
check "nothing changed: no maintenance flag" test ! -e "$WWW/maintenance.on"

# the configuration breaks between the first test and the reload
reset_nginx
rm -f "$WWW/old.flag"
rel=$(file rb-reload.yml <<'EOF'
runbook: rel
steps:
  - id: reload
    uses: nginx.reload
EOF
)
echo 'nginx: [emerg] invalid number of arguments in "listen" directive in /etc/nginx/sites-enabled/x:3' >"$N/broken"
rb run "$rel"
expect_rc 1 "nginx.reload: refused when the test fails"
out_has 'nothing was reloaded: invalid number of arguments in "listen" directive'
not_called "systemctl reload"
is "nginx.reload: the running server untouched" "$(unit nginx)" active

# a reload that "succeeds" while nginx is down: the check catches it
reset_nginx
echo inactive >"$SHIM_STATE/units/nginx"
fault nginx stuck
rb run "$rel"
expect_rc 1 "nginx.reload: nginx not running after the reload fails the step"
out_has "check failed (exit 3): systemctl is-active --quiet 'nginx'"

# plan --check runs nginx -t and changes nothing
reset_nginx
touch "$WWW/old.flag"
d0=$(digest "$SB")
rb plan "$ngx" -p www="$WWW" --check
expect_rc 0 "nginx: plan --check passes"
called "nginx -t"
not_called "systemctl reload"
is "nginx: plan --check changed nothing" "$(digest "$SB")" "$d0"
echo 'nginx: [emerg] unexpected "}" in /etc/nginx/nginx.conf:80' >"$N/broken"
rb plan "$ngx" -p www="$WWW" --check
expect_rc 1 "nginx: plan --check reports a broken configuration before the window"
out_has 'unexpected "}" in /etc/nginx/nginx.conf:80'

# --- certbot -----------------------------------------------------------------

LE=$SB/etc/letsencrypt
C=$SHIM_STATE/certbot
reset_certbot() {
	rm -rf "$LE" "$C" "$WWW"
	mkdir -p "$LE" "$WWW"
	: >"$SHIM_STATE/calls.log"
}
cert() { openssl x509 -in "$LE/live/$1/cert.pem" -noout "$2" 2>/dev/null; }
crb=$(file rb-certbot.yml <<'EOF'
runbook: crt
params:
  le: { required: true }
  www: { required: true }
  domain: { default: lino.example.org }
  fail: { default: "no", choices: ["yes", "no"] }
steps:
  - id: request
    uses: certbot.request
    with:
      domain: "{{ domain }}"
      also: "www.{{ domain }}"
      email: ops@example.org
      webroot: "{{ www }}"
      config_dir: "{{ le }}"
  - id: valid
    uses: certbot.expiry
    with: { cert: "{{ le }}/live/{{ domain }}/cert.pem", days: "60" }
  - id: renew
    uses: certbot.renew
    with: { config_dir: "{{ le }}" }
  - id: boom
    when: fail == "yes"
    run: echo "injected failure"; exit 1
EOF
)

reset_certbot
rb run "$crb" -p le="$LE" -p www="$WWW"
expect_rc 0 "certbot: a clean run (request, expiry, renew)"
called "certbot certonly --webroot -w $WWW -d lino.example.org --cert-name lino.example.org --email ops@example.org"
check "certbot.request: the certificate exists" test -s "$LE/live/lino.example.org/cert.pem"
check "certbot.request: it covers both names" sh -c \
	'openssl x509 -in "$1" -noout -ext subjectAltName | grep -q "DNS:lino.example.org, DNS:www.lino.example.org"' \
	_ "$LE/live/lino.example.org/cert.pem"
check "certbot.request: valid for 89 days more" sh -c 'openssl x509 -in "$1" -noout -checkend 7689600' \
	_ "$LE/live/lino.example.org/cert.pem"
check "certbot.renew: nothing due, nothing reissued" test ! -e "$LE/archive/lino.example.org/cert2.pem"
out_has "notAfter="

# a second run: the certificate exists and is kept
rb run "$crb" -p le="$LE" -p www="$WWW" -p fail=yes
expect_rc 1 "certbot: a failure after requesting an existing certificate"
out_has "Certificate not yet due for renewal; no action taken."
check "rollback: a certificate that existed before is kept" test -s "$LE/live/lino.example.org/cert.pem"
not_called "certbot delete"
out_has "a renewal is not taken back"

# a new certificate, then a failure: the rollback deletes it
reset_certbot
rb run "$crb" -p le="$LE" -p www="$WWW" -p fail=yes
expect_rc 1 "certbot: a failure after a new certificate"
called "certbot delete --cert-name lino.example.org"
check "rollback: the new certificate is deleted" test ! -e "$LE/live/lino.example.org"
check "rollback: its renewal configuration too" test ! -e "$LE/renewal/lino.example.org.conf"

# an unreachable domain: the hint says where the challenge is served from
reset_certbot
mkdir -p "$C"
echo www.lino.example.org >"$C/unreachable"
rb run "$crb" -p le="$LE" -p www="$WWW"
expect_rc 1 "certbot.request: an unreachable domain fails"
out_has "could not fetch the challenge for www.lino.example.org: http://www.lino.example.org/.well-known/acme-challenge/ must be served from $WWW"
check "no certificate" test ! -e "$LE/live/lino.example.org"

# renew: an expiring certificate is renewed, and a renewal that leaves it
# expiring is caught
renrb=$(file rb-renew.yml <<'EOF'
runbook: ren
params:
  le: { required: true }
steps:
  - id: renew
    uses: certbot.renew
    with: { config_dir: "{{ le }}", cert_name: lino.example.org }
EOF
)
reset_certbot
mkdir -p "$C"
echo 5 >"$C/days"
certbot certonly --webroot -w "$WWW" -d lino.example.org --agree-tos -n --config-dir "$LE" >/dev/null 2>&1
check "seed: a certificate that expires in 5 days" sh -c '! openssl x509 -in "$1" -noout -checkend 864000' \
	_ "$LE/live/lino.example.org/cert.pem"
echo 5 >"$C/days"
rb run "$renrb" -p le="$LE"
expect_rc 1 "certbot.renew: a renewal that leaves the certificate expiring fails"
out_has "check failed"
echo 90 >"$C/days"
rb run "$renrb" -p le="$LE"
expect_rc 0 "certbot.renew: the expiring certificate is renewed"
check "certbot.renew: a new certificate version" test -e "$LE/archive/lino.example.org/cert3.pem"
check "certbot.renew: it is valid for 60 days more" sh -c 'openssl x509 -in "$1" -noout -checkend 5184000' \
	_ "$LE/live/lino.example.org/cert.pem"

# expiry: a certificate valid for 89 days fails a 100-day threshold
exprb=$(file rb-expiry.yml <<'EOF'
runbook: exp
params:
  cert: { required: true }
  days: { default: "14" }
steps:
  - id: expiry
    uses: certbot.expiry
    with: { cert: "{{ cert }}", days: "{{ days }}" }
EOF
)
rb run "$exprb" -p cert="$LE/live/lino.example.org/cert.pem" -p days=100
expect_rc 1 "certbot.expiry: too close to the end fails"
out_has "expires within 100 days: renew it (certbot.renew)"
rb run "$exprb" -p cert="$LE/live/lino.example.org/cert.pem"
expect_rc 0 "certbot.expiry: 14 days is fine"
rb run "$exprb" -p cert="$LE/live/nosuch/cert.pem"
expect_rc 1 "certbot.expiry: a missing certificate fails"
out_has "cannot be read: is the path right"

# plan --check: the probes read the certificates, nothing changes
: >"$SHIM_STATE/calls.log"
d0=$(digest "$SB")
rb plan "$crb" -p le="$LE" -p www="$WWW" --check
expect_rc 0 "certbot: plan --check passes"
out_has "had yes"
not_called "certbot"
is "certbot: plan --check changed nothing" "$(digest "$SB")" "$d0"
