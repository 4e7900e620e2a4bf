# tests/testutil.sh: the checks of the shell tests (sourced). Each counts in $checks; a
# wrong one counts in $failed and is printed, named.
checks=0 failed=0
expect() { # expect NAME PATTERN TEXT: TEXT has a line matching the extended regex PATTERN
  checks=$((checks + 1))
  if ! grep -Eq -- "$2" <<<"$3"; then
    failed=$((failed + 1))
    printf 'FAIL %s: no line matches /%s/ in:\n%s\n' "$1" "$2" "$3"
  fi
}
expect_rc() { # expect_rc NAME WANT GOT
  checks=$((checks + 1))
  if [ "$2" != "$3" ]; then failed=$((failed + 1)); echo "FAIL $1: exit $3, want $2"; fi
}
expect_true() { # expect_true NAME COMMAND...: COMMAND succeeds
  local name=$1
  shift
  checks=$((checks + 1))
  if ! "$@"; then failed=$((failed + 1)); echo "FAIL $name: $* failed"; fi
}
