"""Train the zstd dictionary that new databases compress message bodies with (miner/mail.zdict).

    python benchmarks/mail_dictionary.py

Trained on the bodies (text after the first blank line) of the real mail in
../shared/corpus/mail of lists other than linux-btrfs (io-uring, cgroups, kasan-dev, linux-arch,
tip-commits, the LKML digests, patchwork's test mails), so the two bulk epochs the disk goal is
measured on (btrfs and virtualization) are not in its training set. Each database keeps the
dictionary it was written with (table zstd_dictionaries), so a new dictionary never breaks old rows.
"""

from __future__ import annotations

import sys
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "mail"
OUT = ROOT / "miner" / "mail.zdict"
DICT_SIZE = 112_640  # zstd's default size; 256 KiB gained 0.4% of the mail on the bulk epochs


def main() -> None:
    if not CORPUS.exists():
        sys.exit(f"{CORPUS}: not found (the shared corpus must sit beside the project)")
    samples = []
    for path in sorted(CORPUS.rglob("*")):
        if path.suffix not in (".eml", ".mbox") or "linux-btrfs" in str(path) or not path.is_file():
            continue
        raw = path.read_bytes()
        samples.append(raw[raw.find(b"\n\n") + 2:])
    dictionary = zstandard.train_dictionary(DICT_SIZE, samples)
    OUT.write_bytes(dictionary.as_bytes())
    print(f"{OUT}: {len(dictionary.as_bytes())} bytes, dictionary id {dictionary.dict_id()},"
          f" trained on {len(samples)} bodies ({sum(map(len, samples)):,} bytes)")


if __name__ == "__main__":
    main()
