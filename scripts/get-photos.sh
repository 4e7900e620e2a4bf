#!/usr/bin/env bash
# scripts/get-photos.sh [DIR]: the sharp photos that `sung synth` turns into training
# pairs (SPEC §9), copied into DIR (default data/photos, which git ignores).
#
# Sources, both Debian packages fetched with `apt-get download` and unpacked with
# `dpkg -x` into a temporary folder (nothing is installed):
#   mate-backgrounds  every photo of usr/share/backgrounds/mate/nature/ (12 in 1.26)
#   python3-skimage   the colour photographs of natural scenes in skimage/data/:
#                     astronaut, chelsea, coffee, motorcycle_left, motorcycle_right,
#                     rocket. Left out: grayscale images (camera, moon, coins, brick,
#                     grass, gravel, cell, page, text, clock_motion: already blurred),
#                     graphics and synthetic images (horse, logo, color, phantom,
#                     chessboards, palettes, bw_text, block), microscopy and medical
#                     images (ihc, retina, microaneurysms), the Hubble deep field
#                     (a telescope composite, mostly black), and truncated.jpg (a test
#                     of broken files).
#
# Re-running is harmless: files are overwritten with the same content, and when DIR
# already holds everything a previous run took (DIR/.sources), nothing is downloaded
# unless --force is given. Other files in DIR are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

force=0
dest=data/photos
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "get-photos: unknown option '$a' (see --help)" >&2; exit 2 ;;
    *) dest=$a ;;
  esac
done

skimage_photos=(astronaut.png chelsea.png coffee.png motorcycle_left.png motorcycle_right.png rocket.jpg)

if [ "$force" = 0 ] && [ -s "$dest/.sources" ]; then
  complete=1
  while read -r name _; do [ -f "$dest/$name" ] || complete=0; done <"$dest/.sources"
  if [ "$complete" = 1 ]; then
    while read -r name src; do echo "  have $name  ($src)"; done <"$dest/.sources"
    echo "get-photos: $(wc -l <"$dest/.sources") photos already in $dest (--force to fetch again)"
    exit 0
  fi
fi

for tool in apt-get dpkg; do
  command -v "$tool" >/dev/null || { echo "get-photos: needs Debian's $tool" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# as root, apt drops to the _apt user, who cannot write into our private temp folder
sandbox=()
[ "$(id -u)" -ne 0 ] || sandbox=(-o APT::Sandbox::User=root)

fetch() { # fetch PACKAGE: downloads and unpacks it into $tmp/root
  local pkg=$1
  echo "get-photos: downloading $pkg"
  if ! (cd "$tmp" && apt-get download -q "${sandbox[@]}" "$pkg" >"$tmp/apt.log" 2>&1); then
    echo "get-photos: 'apt-get download $pkg' failed:" >&2
    sed 's/^/  /' "$tmp/apt.log" >&2
    echo "get-photos: check the network, or refresh the package lists ('sudo apt-get update')" >&2
    exit 1
  fi
  local deb
  deb=$(ls "$tmp"/"$pkg"_*.deb)
  dpkg -x "$deb" "$tmp/root"
}

fetch mate-backgrounds
fetch python3-skimage

mkdir -p "$dest"
sources=$tmp/sources
: >"$sources"
take() { # take FILE SOURCE-LABEL
  local f=$1 name
  name=$(basename "$f")
  cp -f "$f" "$dest/$name.tmp.$$"
  chmod 644 "$dest/$name.tmp.$$"
  mv -f "$dest/$name.tmp.$$" "$dest/$name"
  echo "$name $2" >>"$sources"
  echo "  took $name  ($2)"
}

nature=$tmp/root/usr/share/backgrounds/mate/nature
[ -d "$nature" ] || { echo "get-photos: mate-backgrounds has no nature/ folder" >&2; exit 1; }
shopt -s nullglob nocaseglob
for f in "$nature"/*.jpg "$nature"/*.jpeg "$nature"/*.png; do take "$f" "mate-backgrounds nature"; done
shopt -u nullglob nocaseglob

skdata=$(find "$tmp/root" -type d -path '*/skimage/data' | head -n 1)
[ -n "$skdata" ] || { echo "get-photos: python3-skimage has no skimage/data folder" >&2; exit 1; }
for name in "${skimage_photos[@]}"; do
  if [ -f "$skdata/$name" ]; then
    take "$skdata/$name" "python3-skimage"
  else
    echo "get-photos: warning: python3-skimage has no $name; skipped" >&2
  fi
done

n=$(wc -l <"$sources")
[ "$n" -gt 0 ] || { echo "get-photos: no photos found in the packages" >&2; exit 1; }
mv -f "$sources" "$dest/.sources"
echo "get-photos: $n photos in $dest"
