#!/usr/bin/env bash
# scripts/get-photos.sh [--force] [--more | --no-more] [DIR]: the sharp photos that `sung synth` turns
# into training pairs (SPEC §9), split by photo into DIR/train/, DIR/val/ and DIR/test/,
# plus DIR/real-blur/ (DIR defaults to data/photos, which git ignores). docs/DATA.md lists
# every photo, its size and why the others were left out.
#
# --more adds 46 training photos from three more packages (below; 61 MB to download), two
# of them stored in forms `sung` cannot read, which scripts/photo-extract.py turns into PNG
# (it needs python3-pil). The main width-32 run trains on them from the twelfth session on
# (docs/RESULTS.md); the demo and the tests need only the default set. A DIR that has them
# keeps them when the script runs again without --more (as `make demo` runs it);
# --no-more removes them.
#
# Sources: Debian packages fetched with `apt-get download` and unpacked with `dpkg -x`
# into a temporary folder (nothing is installed). Chosen by looking at every candidate.
#   mate-backgrounds         every photo of usr/share/backgrounds/mate/nature/ (12 in 1.26)
#   python3-skimage          the colour photographs of natural scenes in skimage/data/:
#                            astronaut, chelsea, coffee, motorcycle_left, motorcycle_right,
#                            rocket. Left out: grayscale images (camera, moon, coins, brick,
#                            grass, gravel, cell, page, text, clock_motion: already blurred),
#                            graphics and synthetic images (horse, logo, color, phantom,
#                            chessboards, palettes, bw_text, block), microscopy and medical
#                            images (ihc, retina, microaneurysms), the Hubble deep field
#                            (a telescope composite, mostly black), and truncated.jpg (a test
#                            of broken files).
#   lomiri-wallpapers-16.04  every .jpg of usr/share/backgrounds/ (13 in 20.04.0) except
#                            analogpattern_by_Peter_Nerlich (a texture) and
#                            umang_by_Abhishek_Mudgal (an illustration).
#   lomiri-wallpapers-20.04  Kleiber_by_Lukas_Baubkus only; Fossa, Infinite-Sea and
#                            Painting-Colors are renders.
#   opencv-doc               18 colour photos of examples/data/, alphamat's plant and
#                            text/scenetext01..06 (lists below). Left out: the second view of
#                            a stereo pair or sequence (aloeR, leuvenB, rubberwhale2, graf3:
#                            the same scene as a photo we keep, which would leak across the
#                            split), the left*/right* images (calibration chessboards; a dim
#                            stereo pair), ela_original/ela_modified (a photo and an edited
#                            copy), grayscale images, drawings, renders, logos and paintings
#                            (starry_night, smarties, HappyFish, pic1..6, ...).
#                            licenseplate_motion, text_motion and text_defocus are really
#                            motion-blurred or out of focus: they go to DIR/real-blur/, for
#                            before/after demos only (no sharp ground truth; never train on
#                            them).
# Validation only (issue 8: 4 validation photos could not tell models apart), 13 photos:
#   lxqt-themes              4 photos of usr/share/lxqt/wallpapers/ (lxqt_photos below). Left
#                            out: graphics and logos (origami*, triangles*, waves*, plasma*,
#                            kde-plasma, simple_blue_widescreen), heavy bokeh (appleflower,
#                            butterfly, Butterfly-Kenneth-Wimer, drop, flowers), cloud (out of
#                            focus), beam (mostly black, a twin in kind of after-the-rain).
#   tuxpaint-data            4 photos of usr/share/tuxpaint/templates/ (tuxpaint_photos). Left
#                            out: textures (burnt_bark, mossy_bark, mudstone, rocks,
#                            ocean_splash), bokeh (spiders_web, sun_behind_leaves), jellyfish
#                            (soft), and the small ones (under 1000 px wide, or portrait).
#   palapeli-data            all 5 photos of usr/share/palapeli/collection/ (a puzzle game's
#                            data, not a wallpaper package).
# With --more, training only, 46 photos:
#   gcompris-qt-data         31 monuments, 10 farm and wild animals and 3 music scenes, all
#                            Wikimedia Commons photos of about 1024 px (the lists below),
#                            WebP inside Qt resource files (.rcc). Left out: aulaPalatina
#                            (no licence in the package), soft, hazy, night, black-and-white
#                            and small ones, bokeh, and the 1920×1080 animals of `erase`
#                            (upscaled and sharpened: painterly at 100 %). Saved as
#                            gcompris-NAME.png.
#   puzzle-jigsaw            pexels-photo-302304.jpeg (a tiger in snow, 1001×648; CC0).
#   python3-scipy            scipy/misc/face.dat, the raccoon (raw RGB, 1024×768), saved as
#                            scipy-face.png.
# Checked and not used at all: ukui-wallpapers (illustrations), gnome-backgrounds
# (illustrations, renders), lomiri-wallpapers (its one image is a render), sway-backgrounds
# (illustrations), desktop-base, xfdesktop4-data, fvwm-crystal (graphics, SVG), and
# python-matplotlib-data (one small scanned portrait). plasma-workspace-wallpapers must NEVER be used: it is kept for an
# independent evaluation, on photos no model here has seen.
#
# The split is by photo and explicit (test_photos, val_photos below; the rest is train).
# DIR/.sources has one line per photo: SPLIT NAME SOURCE-PACKAGE. Re-running is
# harmless: when DIR/.sources lists every photo named below and all its files are there,
# nothing is downloaded unless --force is given. Files this script put in DIR earlier
# and no longer takes (listed in the old .sources) are removed, so that no photo sits in
# two splits; other files in DIR are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

force=0
more=     # 1: --more, 0: --no-more, empty: as DIR already is
dest=data/photos
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    --more) more=1 ;;
    --no-more) more=0 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    -*) echo "get-photos: unknown option '$a' (see --help)" >&2; exit 2 ;;
    *) dest=$a ;;
  esac
done

more_packages=' \(gcompris-qt-data\|puzzle-jigsaw\|python3-scipy\)$' # in .sources lines
if [ -z "$more" ]; then # a DIR that has the --more photos keeps them (make demo must not drop them)
  more=0
  if [ -s "$dest/.sources" ] && grep -q "$more_packages" "$dest/.sources"; then
    more=1
    echo "get-photos: $dest has the --more photos: kept (--no-more removes them)"
  fi
fi

skimage_photos=(astronaut.png chelsea.png coffee.png motorcycle_left.png motorcycle_right.png rocket.jpg)
lomiri16_left_out=(analogpattern_by_Peter_Nerlich.jpg umang_by_Abhishek_Mudgal.jpg)
lomiri20_photos=(Kleiber_by_Lukas_Baubkus.jpg)
opencv_data=usr/share/doc/opencv-doc/examples
opencv_photos=(data/aero1.jpg data/aero3.jpg data/aloeL.jpg data/apple.jpg data/baboon.jpg
  data/board.jpg data/building.jpg data/butterfly.jpg data/chicky_512.png data/fruits.jpg
  data/home.jpg data/leuvenA.jpg data/messi5.jpg data/orange.jpg data/rubberwhale1.png
  data/squirrel_cls.jpg data/stuff.jpg data/graf1.png alphamat/input_images/plant.jpg
  text/scenetext01.jpg text/scenetext02.jpg text/scenetext03.jpg text/scenetext04.jpg
  text/scenetext05.jpg text/scenetext06.jpg)
lxqt_dir=usr/share/lxqt/wallpapers
lxqt_photos=(after-the-rain.jpg fog.jpg this-is-not-windows.jpg Valendas.png)
tuxpaint_dir=usr/share/tuxpaint/templates
tuxpaint_photos=(cliff.jpg corn_maze.jpg sheep.jpg sun_behind_clouds.jpg)
palapeli_dir=usr/share/palapeli/collection
palapeli_photos=(castle-maintenon.jpg cincinnati-bridge.jpg citrus-fruits.jpg european-honey-bee.jpg
  panther-chameleon-female.jpg)
opencv_real_blur=(data/licenseplate_motion.jpg data/text_motion.jpg data/text_defocus.jpg)
gc_rcc=usr/share/gcompris-qt/rcc
gc_monuments=(egypt/greatPyramidOfGiza france/arlesAmphitheater france/chateaudeChambord
  france/chateaudeChenonceau france/eiffelTower france/palaisdesPapes france/pontduGard
  france/reimsCathedral france/rocamadour germany/berlinCathedral germany/brandenburgGate
  germany/neuschwansteinCastle germany/schwerinPalace germany/wormsCathedral india/ajantaCave
  india/charminar india/goldenTemple india/hawaMahal india/konarkSunTemple india/qutubMinar
  usa/canyondeChelly usa/fortSumter usa/georgeWashingtonBirthplace usa/mountRushmore usa/navajo
  usa/statueofLiberty wonders/christTheRedeemer wonders/colosseum wonders/greatWallofChina
  wonders/petra wonders/tajMahal)
gc_farm=(cat chicken cow horse)
gc_world=(chameleon dragon giraffe hedgehog jaguar polar_bear)
gc_music=(america australia italy)
jigsaw_photos=(pexels-photo-302304.jpeg)
more_photos=() # the names they are saved under
if [ "$more" = 1 ]; then
  for p in "${gc_monuments[@]}" "${gc_farm[@]}" "${gc_world[@]}" "${gc_music[@]}"; do
    more_photos+=("gcompris-${p##*/}.png")
  done
  more_photos+=("${jigsaw_photos[@]}" scipy-face.png)
fi

test_photos=(Garden.jpg Storm.jpg Wood.jpg life_by_Aitzol_Berasategi.jpg
  Bridge_by_Sander_Klootwijk.jpg Wine_by_Jakkub_Mede.jpg scenetext02.jpg chelsea.png)
val_photos=(Dune.jpg aitzgorri_by_Aitzol_Berasategi.jpg aloeL.jpg building.jpg
  "${lxqt_photos[@]}" "${tuxpaint_photos[@]}" "${palapeli_photos[@]}")

splits=(train val test real-blur)
is_split() { local s; for s in "${splits[@]}"; do [ "$1" = "$s" ] && return 0; done; return 1; }

# The shortcut: .sources lists SPLIT NAME SOURCE with a valid split, every file is there,
# and every photo this script names is listed (so editing the lists above refetches).
if [ "$force" = 0 ] && [ -s "$dest/.sources" ]; then
  complete=1
  declare -A listed=()
  while read -r split name _; do
    if ! is_split "$split" || [ ! -f "$dest/$split/$name" ]; then complete=0; break; fi
    listed[$name]=1
  done <"$dest/.sources"
  if [ "$complete" = 1 ]; then
    for p in "${skimage_photos[@]}" "${lomiri20_photos[@]}" "${opencv_photos[@]}" "${opencv_real_blur[@]}" \
             "${test_photos[@]}" "${val_photos[@]}" "${more_photos[@]}"; do
      [ -n "${listed[${p##*/}]:-}" ] || { complete=0; break; }
    done
  fi
  if [ "$complete" = 1 ] && [ "$more" = 0 ] && grep -q "$more_packages" "$dest/.sources"; then
    complete=0 # --no-more, and the --more photos are there: this run removes them
  fi
  if [ "$complete" = 1 ]; then
    for s in "${splits[@]}"; do
      echo "  $s: $(awk -v s="$s" '$1 == s' "$dest/.sources" | wc -l)"
    done
    echo "get-photos: $(wc -l <"$dest/.sources") photos already in $dest (--force to fetch again)"
    exit 0
  fi
fi

for tool in apt-get dpkg; do
  command -v "$tool" >/dev/null || { echo "get-photos: needs Debian's $tool" >&2; exit 1; }
done
if [ "$more" = 1 ] && ! /usr/bin/python3 -c 'import PIL.WebPImagePlugin' 2>/dev/null; then
  echo "get-photos: --more needs python3-pil with WebP (apt-get install python3-pil)" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; rm -f "$dest"/*/*.tmp.$$ "$dest"/.sources.tmp.$$' EXIT
# as root, apt drops to the _apt user, who cannot write into our private temp folder
sandbox=()
[ "$(id -u)" -ne 0 ] || sandbox=(-o APT::Sandbox::User=root)

fetch() { # fetch PACKAGE: downloads it and unpacks it into $tmp/root/PACKAGE
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
  mkdir -p "$tmp/root/$pkg"
  dpkg -x "$deb" "$tmp/root/$pkg"
  rm -f "$deb"
}

# Never add plasma-workspace-wallpapers here (see the top of this file).
packages=(mate-backgrounds python3-skimage lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 opencv-doc
  lxqt-themes tuxpaint-data palapeli-data)
[ "$more" = 0 ] || packages+=(gcompris-qt-data puzzle-jigsaw python3-scipy)
for pkg in "${packages[@]}"; do fetch "$pkg"; done

split_of() { # split_of NAME: prints test, val or train
  local p
  for p in "${test_photos[@]}"; do [ "$1" = "$p" ] && { echo test; return; }; done
  for p in "${val_photos[@]}"; do [ "$1" = "$p" ] && { echo val; return; }; done
  echo train
}

# First the plan (every check), then the copies: a failed check leaves DIR as it was.
sources=$tmp/sources # SPLIT NAME SOURCE, one line per photo
: >"$sources"
plan=()              # FILE, one per line of $sources
declare -A taken=()  # NAME -> SOURCE, to refuse two photos of one name
take() { # take FILE SOURCE-PACKAGE [SPLIT]: plans FILE for DIR/SPLIT/ (its split by name)
  local f=$1 src=$2 name
  name=${f##*/}
  [ -f "$f" ] || { echo "get-photos: $src has no ${f#"$tmp/root/$src/"}" >&2; exit 1; }
  if [ -n "${taken[$name]:-}" ]; then
    echo "get-photos: two photos named $name (from ${taken[$name]} and $src); rename one" >&2
    exit 1
  fi
  taken[$name]=$src
  echo "${3:-$(split_of "$name")} $name $src" >>"$sources"
  plan+=("$f")
}

shopt -s nullglob nocaseglob
nature=$tmp/root/mate-backgrounds/usr/share/backgrounds/mate/nature
[ -d "$nature" ] || { echo "get-photos: mate-backgrounds has no nature/ folder" >&2; exit 1; }
for f in "$nature"/*.jpg "$nature"/*.jpeg "$nature"/*.png; do take "$f" mate-backgrounds; done

skdata=$(find "$tmp/root/python3-skimage" -type d -path '*/skimage/data' -print -quit)
[ -n "$skdata" ] || { echo "get-photos: python3-skimage has no skimage/data folder" >&2; exit 1; }
for name in "${skimage_photos[@]}"; do take "$skdata/$name" python3-skimage; done

# the folder holding the wallpapers (usr/share/backgrounds/ in 20.04.0-2)
bg16=$(find "$tmp/root/lomiri-wallpapers-16.04/usr/share/backgrounds" -name '*.jpg' -printf '%h\n' -quit)
if [ -z "$bg16" ]; then
  echo "get-photos: lomiri-wallpapers-16.04 has no .jpg under usr/share/backgrounds" >&2
  exit 1
fi
for f in "$bg16"/*.jpg; do
  skip=0
  for x in "${lomiri16_left_out[@]}"; do [ "$(basename "$f")" = "$x" ] && skip=1; done
  [ "$skip" = 1 ] || take "$f" lomiri-wallpapers-16.04
done

bg20=$(find "$tmp/root/lomiri-wallpapers-20.04/usr/share/backgrounds" -name "${lomiri20_photos[0]}" -printf '%h\n' -quit)
for name in "${lomiri20_photos[@]}"; do
  take "${bg20:-$tmp/root/lomiri-wallpapers-20.04}/$name" lomiri-wallpapers-20.04
done

for p in "${opencv_photos[@]}"; do take "$tmp/root/opencv-doc/$opencv_data/$p" opencv-doc; done
for p in "${opencv_real_blur[@]}"; do
  take "$tmp/root/opencv-doc/$opencv_data/$p" opencv-doc real-blur
done
for p in "${lxqt_photos[@]}"; do take "$tmp/root/lxqt-themes/$lxqt_dir/$p" lxqt-themes; done
for p in "${tuxpaint_photos[@]}"; do take "$tmp/root/tuxpaint-data/$tuxpaint_dir/$p" tuxpaint-data; done
for p in "${palapeli_photos[@]}"; do take "$tmp/root/palapeli-data/$palapeli_dir/$p" palapeli-data; done
if [ "$more" = 1 ]; then # converted into $tmp/more/ first, then taken as the others
  mkdir -p "$tmp/more"
  extract=scripts/photo-extract.py
  gc=$tmp/root/gcompris-qt-data/$gc_rcc
  gc_take() { # gc_take ACTIVITY FOLDER NAME...
    local act=$1 dir=$2 n
    shift 2
    for n in "$@"; do
      "$extract" rcc "$gc/$act.rcc" "/gcompris/src/activities/$act/resource/$dir/$n.webp" \
        "$tmp/more/gcompris-${n##*/}.png"
      take "$tmp/more/gcompris-${n##*/}.png" gcompris-qt-data train
    done
  }
  gc_take explore_monuments . "${gc_monuments[@]}"
  gc_take explore_farm_animals animals "${gc_farm[@]}"
  gc_take explore_world_animals animals "${gc_world[@]}"
  gc_take explore_world_music music "${gc_music[@]}"
  for p in "${jigsaw_photos[@]}"; do
    take "$tmp/root/puzzle-jigsaw/usr/share/puzzle-jigsaw/samples/$p" puzzle-jigsaw train
  done
  face=$(find "$tmp/root/python3-scipy" -path '*/scipy/misc/face.dat' -print -quit)
  [ -n "$face" ] || { echo "get-photos: python3-scipy has no scipy/misc/face.dat" >&2; exit 1; }
  "$extract" face "$face" "$tmp/more/scipy-face.png"
  take "$tmp/more/scipy-face.png" python3-scipy train
fi
shopt -u nullglob nocaseglob

# every name in the split lists must have been taken: a typo would silently drop a photo
for name in "${test_photos[@]}" "${val_photos[@]}"; do
  if [ -z "${taken[$name]:-}" ]; then
    echo "get-photos: $name is in a split list but in no package" >&2
    exit 1
  fi
done

for s in "${splits[@]}"; do mkdir -p "$dest/$s"; done
i=0
while read -r split name src; do # each copy is atomic: a temporary name, then mv
  cp -f "${plan[i]}" "$dest/$split/$name.tmp.$$"
  chmod 644 "$dest/$split/$name.tmp.$$"
  mv -f "$dest/$split/$name.tmp.$$" "$dest/$split/$name"
  echo "  took $split/$name  ($src)"
  i=$((i + 1))
done <"$sources"

# Remove what an earlier run took and this one did not (a photo that changed split, or the
# flat DIR/NAME layout of older versions, whose .sources lines were NAME SOURCE...).
if [ -f "$dest/.sources" ]; then
  awk '{print $1 "/" $2}' "$sources" >"$tmp/kept"
  while read -r first second _; do
    if is_split "$first"; then name=$second; old="$first/$second"; else name=$first; old=$first; fi
    case "$name" in ''|.|..|*/*) continue ;; esac
    if ! grep -qxF "$old" "$tmp/kept" && [ -f "$dest/$old" ]; then
      rm -f "$dest/$old"
      echo "  removed $old (left by an earlier run, not taken now)"
    fi
  done <"$dest/.sources"
fi

LC_ALL=C sort -k1,1 -k2,2 "$sources" >"$dest/.sources.tmp.$$"
mv -f "$dest/.sources.tmp.$$" "$dest/.sources"
for s in "${splits[@]}"; do echo "  $s: $(awk -v s="$s" '$1 == s' "$dest/.sources" | wc -l)"; done
echo "get-photos: $(wc -l <"$dest/.sources") photos in $dest"
