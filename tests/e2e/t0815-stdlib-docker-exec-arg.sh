#!/bin/sh
# t0815 — docker.exec's `arg`: a value the container's command reads as
# "$1", quoted whatever it holds (cmd, check and undo are code; a param
# must go through arg, never into them).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../sandbox.sh"
sandbox docker-exec-arg
mkdir -p "$SHIM_STATE/containers/app"
echo running >"$SHIM_STATE/containers/app/state"
rbk=$(file exec.yml <<'EOF2'
runbook: exec-arg
params:
  key: { required: true }
steps:
  - id: put
    uses: docker.exec
    with:
      container: app
      cmd: 'printf "stored: %s|\n" "$1"'
      arg: "{{ key }}"
      check: 'test -n "$1"'
EOF2
)
hostile='x; touch '"$SB"'/pwned $(touch '"$SB"'/pwned2) `id` "q'"'"'s'
RUNBOOK_PATH="$TOP/stdlib" rb run "$rbk" -p "key=$hostile"
expect_rc 0 "docker.exec with a hostile arg runs"
check "the value arrived byte for byte" grep -qF -- "stored: $hostile|" "$out"
check "nothing it holds was run" test ! -e "$SB/pwned" -a ! -e "$SB/pwned2"
called "docker exec -i app sh -c"
