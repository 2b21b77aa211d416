"""Pack the three shared ultrasound sites small enough to travel to a lent GPU machine, and unpack them there.

The leave-one-site-out backbones and segmenters (``scripts/train_loso_parts.sh``) take hours
on 2 CPU cores and 7 min on one H200; the machine that has the GPU receives at most 64 MiB with
the repository. ``pack`` writes the three sites (``busi``, ``bus-bra``, ``breast-lesions-usg`` of
:func:`featbus.get_data_home`) into one tar: every image shrunk to 224 px on its longer side (area
interpolation; the networks train at 224 px) and stored as JPEG of quality 85, every mask shrunk
with nearest-neighbour and stored as PNG, tables and licences as they are (about 20 MB).
``unpack`` writes the same folder layout back with PNG images, so the training scripts read it
through ``FEATBUS_DATA`` unchanged. What the networks trained on is therefore a lossy copy of the
sites (224 px, JPEG 85), not the sites as shared: the results files that use these parts say so.

    python scripts/pack_sites.py pack sites.tar
    python scripts/pack_sites.py pack busi.tar --sites busi   # one site only
    python scripts/pack_sites.py unpack sites.tar /tmp/data   # on the GPU machine
"""

from __future__ import annotations

import argparse
import io
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SITES = ("busi", "bus-bra", "breast-lesions-usg")
SIDE = 224
QUALITY = 85


def pack(out: str, sites: tuple[str, ...] = SITES) -> None:
    from PIL import Image

    from featbus import get_data_home

    src = get_data_home()
    n = 0
    with tarfile.open(out, "w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for site in sites:
            for f in sorted((src / site).rglob("*")):
                if not f.is_file():
                    continue
                rel = f.relative_to(src).as_posix()
                if f.suffix.lower() != ".png":
                    add(rel, f.read_bytes())
                    continue
                im = Image.open(f)
                im.load()
                mask = "_mask" in f.name
                if max(im.size) > SIDE:
                    s = SIDE / max(im.size)
                    size = (max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s)))
                    im = im.resize(size, Image.Resampling.NEAREST if mask else Image.Resampling.BOX)
                buf = io.BytesIO()
                if mask:
                    im.save(buf, "PNG", optimize=True)
                    add(rel, buf.getvalue())
                else:
                    im.save(buf, "JPEG", quality=QUALITY)
                    add(rel + ".jpg", buf.getvalue())
                n += 1
    print(f"packed {n} images and masks into {out} ({Path(out).stat().st_size / 1e6:.1f} MB)")


def unpack(archive: str, dest: str) -> None:
    from PIL import Image

    root = Path(dest)
    with tarfile.open(archive) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]

    def one(item) -> None:
        name, data = item
        if name.startswith("/") or ".." in Path(name).parts:
            raise ValueError(f"{name}: a path outside the destination")
        path = root / (name[:-4] if name.endswith(".png.jpg") else name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".png.jpg"):
            Image.open(io.BytesIO(data)).save(path, "PNG", compress_level=1)
        else:
            path.write_bytes(data)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, members))
    print(f"unpacked {len(members)} files into {root}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    pk = sub.add_parser("pack")
    pk.add_argument("archive")
    pk.add_argument("--sites", default=",".join(SITES), help="comma-separated sites (default: all three)")
    u = sub.add_parser("unpack")
    u.add_argument("archive")
    u.add_argument("dest")
    args = p.parse_args(argv)
    if args.what == "pack":
        pack(args.archive, tuple(s for s in args.sites.split(",") if s))
    else:
        unpack(args.archive, args.dest)


if __name__ == "__main__":
    main()
