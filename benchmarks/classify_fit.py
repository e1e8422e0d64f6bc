"""Fit the classifier's calibrated weights on dev + dev2 and write miner/classify/weights.tsv.

    python benchmarks/classify_fit.py            # fit on all items, write the table
    python benchmarks/classify_fit.py --check    # only print what would change

The features come from the pattern table (miner/classify/calibrate.py); one logistic regression
per label (scikit-learn) turns them into a score.  `miner eval --by-list` refits the same way
without each list in turn, so the figures it prints are for lists the weights never saw.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from miner.classify.calibrate import WEIGHTS_PATH, fit_weights, format_weights  # noqa: E402
from miner.classify.evaluate import item_vectors  # noqa: E402
from miner.classify.items import read_items  # noqa: E402

DEV_SETS = (ROOT.parent / "shared" / "labels" / "dev.jsonl", ROOT.parent / "shared" / "labels" / "dev2.jsonl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="print the table, do not write it")
    args = parser.parse_args()
    items = []
    for path in DEV_SETS:
        if not path.exists():
            sys.exit(f"classify_fit: {path} not found (the shared labels must sit beside the project)")
        with open(path, "rb") as stream:
            items += list(read_items(stream, str(path), need_labels=True))
    weights = fit_weights(item_vectors(items), [item.labels or [] for item in items])
    table = format_weights(weights, note=f"on dev.jsonl + dev2.jsonl ({len(items)} messages, 8 lists).")
    if args.check:
        print(table, end="")
        return
    WEIGHTS_PATH.write_text(table)
    print(f"wrote {WEIGHTS_PATH} ({len(items)} items)")


if __name__ == "__main__":
    main()
