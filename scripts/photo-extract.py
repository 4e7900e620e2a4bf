#!/usr/bin/python3
"""scripts/photo-extract.py: turns photos stored in forms `sung` cannot read into PNG, for
scripts/get-photos.sh --more (never at run time: `sung` itself reads PNG and JPEG only).

    photo-extract.py rcc FILE.rcc RESOURCE OUT.png   one WebP photo from a Qt resource file
    photo-extract.py face FACE.dat OUT.png           scipy's raccoon (bz2 raw 768x1024x3 RGB)

Qt resource files (`.rcc`, format 1 to 3) are a tree of names and a data block; entries
are stored raw or zlib-compressed (flag 1). zstd entries (flag 4) are refused. Needs
python3-pil (Debian) for WebP. Exits non-zero with a message on anything unexpected; OUT is
written to a temporary name and renamed, so it is never half-written.
"""
import bz2
import io
import os
import struct
import sys
import zlib


def fail(msg):
    sys.stderr.write("photo-extract: %s\n" % msg)
    sys.exit(1)


def rcc_read(path, resource):
    """The bytes of RESOURCE (a path like /gcompris/src/.../x.webp) in the .rcc at path"""
    with open(path, "rb") as f:
        b = f.read()
    if b[:4] != b"qres":
        fail("%s is not a Qt resource file" % path)
    u32 = lambda o: struct.unpack(">I", b[o:o + 4])[0]
    u16 = lambda o: struct.unpack(">H", b[o:o + 2])[0]
    ver, tree, data, names = u32(4), u32(8), u32(12), u32(16)
    if ver not in (1, 2, 3):
        fail("%s: Qt resource format %d is not known" % (path, ver))
    node = 14 if ver == 1 else 22  # v2+ adds an 8-byte modification time

    def name(i):
        o = names + u32(tree + i * node)
        n = u16(o)
        return b[o + 6:o + 6 + 2 * n].decode("utf-16-be")

    i = 0
    for part in [p for p in resource.split("/") if p not in ("", ".")]:
        o = tree + i * node
        if not u16(o + 4) & 2:
            fail("%s: %s is not a folder on the way to %s" % (path, name(i), resource))
        count, first = u32(o + 6), u32(o + 10)
        found = [c for c in range(first, first + count) if name(c) == part]
        if not found:
            fail("%s has no %s" % (path, resource))
        i = found[0]
    o = tree + i * node
    flags = u16(o + 4)
    if flags & 2:
        fail("%s: %s is a folder" % (path, resource))
    at = data + u32(o + 10)
    d = b[at + 4:at + 4 + u32(at)]
    if flags & 4:
        fail("%s: %s is zstd-compressed (not supported)" % (path, resource))
    return zlib.decompress(d[4:]) if flags & 1 else d


def save_png(img, out):
    tmp = "%s.tmp.%d" % (out, os.getpid())
    try:
        img.convert("RGB").save(tmp, "PNG")
        os.replace(tmp, out)
    except Exception as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        fail("%s: %s" % (out, e))


def main(argv):
    try:
        from PIL import Image
    except ImportError:
        fail("needs python3-pil (apt-get install python3-pil)")
    if len(argv) == 5 and argv[1] == "rcc":
        img = Image.open(io.BytesIO(rcc_read(argv[2], argv[3])))
        img.load()
        save_png(img, argv[4])
    elif len(argv) == 4 and argv[1] == "face":
        with open(argv[2], "rb") as f:
            raw = bz2.decompress(f.read())
        if len(raw) != 768 * 1024 * 3:
            fail("%s: %d bytes, not 768x1024 RGB" % (argv[2], len(raw)))
        save_png(Image.frombytes("RGB", (1024, 768), raw), argv[3])
    else:
        fail("usage: photo-extract.py rcc FILE.rcc RESOURCE OUT.png | face FACE.dat OUT.png")


if __name__ == "__main__":
    main(sys.argv)
