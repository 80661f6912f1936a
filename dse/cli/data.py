"""`dse data fetch` and `dse data info`: download a data set, or say which copy would be used."""

from __future__ import annotations

import argparse
from typing import Any

from dse.cli.args import Parser, add_data_dir

__all__ = ["register"]


def register(sub: Any) -> None:
    from dse.data import DATASETS

    d = sub.add_parser("data", help="find, inspect or download data sets")
    dsub = d.add_subparsers(dest="data_command", required=True, parser_class=Parser, metavar="ACTION")
    f = dsub.add_parser("fetch", help="download a data set into the user cache (SHA-256 verified)")
    f.add_argument("name", choices=DATASETS)
    f.add_argument("--dest", help="folder to download into (default: the user cache)")
    f.add_argument("--base-url", help="mirror to download from")
    f.set_defaults(handler=cmd_fetch)
    i = dsub.add_parser("info", help="say which copy of a data set would be used")
    i.add_argument("name", choices=DATASETS)
    add_data_dir(i)
    i.set_defaults(handler=cmd_info)


def cmd_fetch(args: argparse.Namespace) -> int:
    from dse.cli.progress import progress_for
    from dse.data.fetch import fetch_dataset

    with progress_for() as progress:
        path = fetch_dataset(args.name, args.dest, base_url=args.base_url, progress=progress)
    print(f"{args.name}: verified files in {path}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from dse.data.locate import load_dataset

    ds = load_dataset(args.name, args.data_dir)
    info: dict[str, Any] = {"name": ds.name, "source": ds.source, "location": ds.location,
                            "sha256": ds.sha256, "train": len(ds.train_images), "test": len(ds.test_images)}
    for k, v in info.items():
        print(f"{k:9s} {v}")
    return 0
