"""Build the bundled class-balanced subsets in dse/data/subset/ from the full IDX data.

    python bench/make_subset.py --source-dir DIR

DIR holds mnist/ and fashion-mnist/ with the four standard IDX files each
(gzip or raw).  The selection depends only on --seed and the counts, so
re-running on the published data reproduces the same subset payloads (the
manifest records their checksums; the xz bytes themselves depend on liblzma).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np

from dse.data import DATASETS, DataError
from dse.data.fetch import PAYLOAD_SHA256
from dse.data.idx import N_CLASSES, idx_bytes, write_idx
from dse.data.locate import DATASET_SHA256, Dataset, load_dataset, subset_file_name

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "dse" / "data" / "subset"
DEFAULT_SEED = 20250601
# Everything bundled (xz files + manifest) must fit the wheel budget.
DEFAULT_BUDGET_BYTES = 2_200_000
# Redistribution terms of the sources, recorded next to the copies we ship.
LICENSES = {
    "mnist": "CC BY-SA 3.0 (Y. LeCun, C. Cortes, C. J. C. Burges)",
    "fashion-mnist": "MIT (Zalando SE)",
}
# Fashion-MNIST compresses ~2.7x worse than MNIST (~376 vs ~139 bytes per image
# with xz -9e), so it gets fewer training images: 2,500 overshoots the budget by
# ~21 kB, 2,400 leaves ~17 kB spare.
DEFAULT_COUNTS = {
    "mnist": {"train": 5000, "test": 1000},
    "fashion-mnist": {"train": 2400, "test": 1000},
}


def balanced_indices(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count // 10`` random indices per class, returned in original (ascending) order."""
    if count % N_CLASSES:
        raise ValueError(f"count {count} is not a multiple of {N_CLASSES}")
    per_class = count // N_CLASSES
    picks = []
    for cls in range(N_CLASSES):
        pool = np.flatnonzero(labels == cls)
        if pool.size < per_class:
            raise ValueError(f"class {cls} has only {pool.size} samples, need {per_class}")
        picks.append(rng.choice(pool, size=per_class, replace=False))
    # Original order keeps the source's class interleaving, so any prefix is roughly balanced.
    return np.sort(np.concatenate(picks))


def split_rng(seed: int, dataset_index: int, split_index: int) -> np.random.Generator:
    # One stream per (data set, split): changing one count never reshuffles the others.
    return np.random.default_rng([seed, dataset_index, split_index])


def dump_manifest(manifest: dict) -> str:
    """Indented JSON with integer lists kept on one line (indices would be ~10k lines otherwise)."""
    text = json.dumps(manifest, indent=2, sort_keys=False)
    return re.sub(
        r"\[\s*(-?\d+(?:,\s*-?\d+)*)\s*\]",
        lambda m: "[" + ",".join(part.strip() for part in m.group(1).split(",")) + "]",
        text,
    ) + "\n"


def build_one(
    full: Dataset, counts: dict[str, int], seed: int, dataset_index: int, out_dir: Path
) -> dict:
    """Write the four subset files for one data set; return its manifest entry."""
    splits = {
        "train": (full.train_images, full.train_labels),
        "test": (full.test_images, full.test_labels),
    }
    digest = hashlib.sha256()
    files: dict[str, dict] = {}
    split_entries: dict[str, dict] = {}
    for split_index, (split, (images, labels)) in enumerate(splits.items()):
        idx = balanced_indices(labels, counts[split], split_rng(seed, dataset_index, split_index))
        sub_images = images[idx].reshape(-1, 28, 28)
        sub_labels = labels[idx]
        prefix = "train" if split == "train" else "t10k"
        for kind, array in (("images-idx3", sub_images), ("labels-idx1", sub_labels)):
            stem = f"{prefix}-{kind}-ubyte"
            payload = idx_bytes(array)
            digest.update(payload)
            path = write_idx(out_dir / subset_file_name(full.name, stem), array)
            files[path.name] = {
                "bytes": path.stat().st_size,
                "payload_sha256": hashlib.sha256(payload).hexdigest(),
            }
        split_entries[split] = {
            "count": int(idx.size),
            "source_count": int(labels.size),
            "per_class": np.bincount(sub_labels, minlength=N_CLASSES).tolist(),
            "indices": idx.tolist(),
        }
    return {
        "sha256": digest.hexdigest(),
        "counts": {split: e["count"] for split, e in split_entries.items()},
        "files": files,
        "source": full.source.split(" from ")[0],
        "license": LICENSES[full.name],
        "source_sha256": full.sha256,
        "source_payload_sha256": dict(PAYLOAD_SHA256[full.name]),
        "splits": split_entries,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-dir", type=Path, required=True, help="folder with mnist/ and fashion-mnist/")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--budget-bytes", type=int, default=DEFAULT_BUDGET_BYTES)
    for name in DATASETS:
        for split in ("train", "test"):
            parser.add_argument(
                f"--{name}-{split}", type=int, default=DEFAULT_COUNTS[name][split],
                help=f"{split} images for {name} (multiple of 10)",
            )
    parser.add_argument(
        "--allow-unpublished", action="store_true",
        help="accept source data whose checksum differs from the published sets",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict = {
        "format": 1,
        "generator": "bench/make_subset.py",
        "seed": args.seed,
        "selection": "per split: count/10 samples of each class drawn without replacement "
        "with numpy default_rng([seed, dataset_index, split_index]); kept in original order",
        "sha256_definition": "sha256 over the four uncompressed IDX payloads "
        "(train images, train labels, test images, test labels)",
        "budget_bytes": args.budget_bytes,
        "datasets": {},
    }
    for dataset_index, name in enumerate(DATASETS):
        counts = {split: getattr(args, f"{name.replace('-', '_')}_{split}") for split in ("train", "test")}
        try:
            full = load_dataset(name, args.source_dir, allow_bundled=False)
            if full.sha256 != DATASET_SHA256[name] and not args.allow_unpublished:
                raise DataError(f"{full.source}; pass --allow-unpublished to use it anyway")
            manifest["datasets"][name] = build_one(full, counts, args.seed, dataset_index, args.out_dir)
        except (DataError, ValueError) as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)
            return 2

    manifest_path = args.out_dir / "manifest.json"
    manifest_path.write_text(dump_manifest(manifest), encoding="utf-8")
    bundled = sorted(args.out_dir.glob("*.xz")) + [manifest_path]
    total = sum(p.stat().st_size for p in bundled)
    for p in bundled:
        print(f"{p.stat().st_size:>10,}  {p.name}")
    print(f"{total:>10,}  total (budget {args.budget_bytes:,})")
    if total > args.budget_bytes:
        print("error: bundled files exceed the budget; lower the counts", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
