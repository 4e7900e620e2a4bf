#!/usr/bin/env bash
# tests/test_install.sh: `make install` into scratch prefixes, used as a user of the
# command and of the library would: the files and sung.pc it installs, the example program
# at the top of include/sung.h built from them (pkg-config; shared and static) and run,
# its output the same bytes as `sung deblur`'s, and the installed command finding the
# default weights in PREFIX/share/sung. Prints each wrong answer, naming it; exits 1 if
# there was one.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$here/tests/testutil.sh"
cc=${CC:-cc}
p=$tmp/p # the prefix

out=$(make -s -C "$here" install PREFIX="$p" 2>&1); rc=$?
expect_rc "make install" 0 $rc
for f in bin/sung lib/libsung.a lib/libsung.so include/sung.h share/man/man1/sung.1 lib/pkgconfig/sung.pc; do
  expect_true "installs $f" test -s "$p/$f"
done
expect_true "the command is executable" test -x "$p/bin/sung"
expect_true "the header is include/sung.h" cmp -s "$here/include/sung.h" "$p/include/sung.h"
if [ -f "$here/models/sung.safetensors" ]; then
  expect_true "installs the default weights" cmp -s "$here/models/sung.safetensors" "$p/share/sung/sung.safetensors"
else
  expect_true "installs no default weights while there are none" test ! -e "$p/share/sung/sung.safetensors"
fi

# sung.pc names the prefix, the version of the Makefile and, for a static link, the
# libraries libsung.a needs
export PKG_CONFIG_PATH=$p/lib/pkgconfig
version=$(sed -n 's/^VERSION *[:?]*= *//p' "$here/Makefile")
expect "pkg-config --modversion" "^${version//./\\.}\$" "$(pkg-config --modversion sung 2>&1)"
flags=$(pkg-config --cflags --libs sung 2>&1)
expect "pkg-config --cflags --libs" "^-I$p/include -L$p/lib -lsung *\$" "$flags"
static=$(pkg-config --static --cflags --libs sung 2>&1)
expect "pkg-config --static names libpng and libjpeg" '-lpng.* -ljpeg' "$static"

# the header's example, as it stands there
sed -n '/^ \*   \/\/ deblur-one WEIGHTS IN OUT/,/^ \*   }$/p' "$here/include/sung.h" | sed -E 's/^ \*( {3}|$)//' \
  >"$tmp/deblur-one.c"
expect "the example is a whole program" '^int main\(int argc, char \*\*argv\)$' "$(cat "$tmp/deblur-one.c")"
expect "the example ends with main" '^}$' "$(tail -n 1 "$tmp/deblur-one.c")"
out=$($cc -std=c11 -Wall -Wextra -Werror -o "$tmp/one-shared" "$tmp/deblur-one.c" $flags 2>&1); rc=$?
expect_rc "the example builds against libsung.so by pkg-config: $out" 0 $rc
out=$($cc -std=c11 -Wall -Wextra -Werror -o "$tmp/one-static" "$tmp/deblur-one.c" \
  ${static/-lsung/$p/lib/libsung.a} 2>&1); rc=$?
expect_rc "the example builds against libsung.a by pkg-config --static: $out" 0 $rc
expect "the shared build loads the installed libsung.so" "libsung\.so => $p/lib/libsung\.so" \
  "$(LD_LIBRARY_PATH=$p/lib ldd "$tmp/one-shared" 2>&1)"
checks=$((checks + 1))
if ldd "$tmp/one-static" 2>&1 | grep -q libsung; then failed=$((failed + 1)); echo "FAIL the static build needs libsung.so"; fi

# run: a width-4 model on a 6x4 photo; the library's default arithmetic is fp32
in=$here/fuzz/seeds/image/plain.png
"$p/bin/sung" init --width 4 --seed 3 -o "$tmp/w4.safetensors" >/dev/null 2>&1
expect_rc "sung init" 0 $?
"$p/bin/sung" deblur --quiet --precision fp32 --model "$tmp/w4.safetensors" "$in" -o "$tmp/cli.png" 2>&1
expect_rc "the installed sung deblur" 0 $?
for b in shared static; do
  out=$(LD_LIBRARY_PATH=$p/lib "$tmp/one-$b" "$tmp/w4.safetensors" "$in" "$tmp/$b.png" 2>&1); rc=$?
  expect_rc "the $b example runs: $out" 0 $rc
  expect_true "the $b example writes what sung deblur writes" cmp -s "$tmp/cli.png" "$tmp/$b.png"
done
out=$(LD_LIBRARY_PATH=$p/lib "$tmp/one-shared" "$tmp/none.safetensors" "$in" "$tmp/x.png" 2>&1); rc=$?
expect_rc "the example, missing weights" 1 $rc
expect "the example says which file" "none\.safetensors" "$out"
expect_true "the example wrote nothing then" test ! -e "$tmp/x.png"

# the installed command's default weights: PREFIX/share/sung/sung.safetensors
if [ ! -f "$here/models/sung.safetensors" ]; then
  out=$(cd "$tmp" && env -u SUNG_MODEL "$p/bin/sung" deblur --quiet "$in" -o "$tmp/d.png" 2>&1); rc=$?
  expect_rc "no default weights installed: an error" 1 $rc
  expect "it names where it looked" "looked for $p/bin/\.\./share/sung/sung\.safetensors" "$out"
  checks=$((checks + 1))
  if grep -q 'training snapshot' <<<"$out"; then failed=$((failed + 1)); echo "FAIL an installed sung offers a snapshot it does not have"; fi
fi
cp "$tmp/w4.safetensors" "$p/share/sung/sung.safetensors"
out=$(cd "$tmp" && env -u SUNG_MODEL "$p/bin/sung" deblur --quiet --precision fp32 "$in" -o "$tmp/d.png" 2>&1); rc=$?
expect_rc "the installed command with no --model: $out" 0 $rc
expect_true "it used PREFIX/share/sung/sung.safetensors" cmp -s "$tmp/cli.png" "$tmp/d.png"

# DESTDIR stages the same tree for a package, with the real prefix in sung.pc
out=$(make -s -C "$here" install DESTDIR="$tmp/stage" PREFIX=/opt/sung 2>&1); rc=$?
expect_rc "make install DESTDIR" 0 $rc
expect_true "DESTDIR holds the command" test -x "$tmp/stage/opt/sung/bin/sung"
expect "DESTDIR's sung.pc names the real prefix" '^prefix=/opt/sung$' "$(cat "$tmp/stage/opt/sung/lib/pkgconfig/sung.pc" 2>&1)"

echo "test_install: $checks checks, $failed failed"
[ "$failed" -eq 0 ]
