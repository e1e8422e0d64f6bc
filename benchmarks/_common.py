"""Helpers shared by the benchmarks: the bulk epoch, process-tree memory sampling."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT.parent / "shared" / "corpus" / "bulk" / "linux-btrfs-0-first20k.bundle"
WORK = ROOT / "benchmarks" / ".work"


def bulk_epoch(prefix: int | None = None) -> Path:
    """A bare clone of the 20,000-message linux-btrfs epoch (or of its first ``prefix`` commits)."""
    if not BUNDLE.exists():
        sys.exit(f"benchmark: {BUNDLE} not found (the shared corpus must sit beside the project)")
    WORK.mkdir(parents=True, exist_ok=True)
    full = WORK / "linux-btrfs-0.git"
    if not full.exists():
        subprocess.run(["git", "clone", "-q", "--bare", str(BUNDLE), str(full)], check=True)
    if prefix is None:
        return full
    partial = WORK / f"linux-btrfs-0-first{prefix}.git"
    if not partial.exists():
        subprocess.run(["git", "clone", "-q", "--bare", str(full), str(partial)], check=True)
        commits = subprocess.run(["git", f"--git-dir={partial}", "rev-list", "--reverse", "HEAD"],
                                 capture_output=True, check=True, text=True).stdout.split()
        subprocess.run(["git", f"--git-dir={partial}", "update-ref", "refs/heads/master", commits[prefix - 1]],
                       check=True)
    return partial


def grow_epoch(repo: Path, commits: int | None) -> Path:
    """A clone of the bulk epoch whose branch ends at commit ``commits`` (None: the last one)."""
    full = bulk_epoch()
    if not repo.exists():
        subprocess.run(["git", "clone", "-q", "--bare", str(full), str(repo)], check=True)
    order = subprocess.run(["git", f"--git-dir={full}", "rev-list", "--reverse", "HEAD"],
                           capture_output=True, check=True, text=True).stdout.split()
    target = order[-1] if commits is None else order[commits - 1]
    subprocess.run(["git", f"--git-dir={repo}", "update-ref", "refs/heads/master", target], check=True)
    return repo


def tree_memory_kib(pid: int) -> tuple[int, int]:
    """(PSS of a process and all its descendants, largest single RSS), in KiB.

    PSS counts a page shared by n processes (forked workers share the parent's pages
    copy-on-write) as 1/n in each, so the sum is the memory the whole job occupies.
    """
    total = largest = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup") as rollup:
                for line in rollup:
                    if line.startswith("Rss:"):
                        largest = max(largest, int(line.split()[1]))
                    elif line.startswith("Pss:"):
                        total += int(line.split()[1])
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total, largest


def run_measured(command: list[str], sample_memory: bool = True, interval: float = 0.02,
                 **kwargs) -> tuple[subprocess.CompletedProcess, float, tuple[int, int]]:
    """Run ``command``; returns the result, wall seconds and (peak tree PSS, peak process RSS) in KiB.

    Sampling memory reads /proc/PID/smaps_rollup of every process of the tree, which walks their
    page tables and slows them down: runs that measure speed pass ``sample_memory=False``, or sample
    every ``interval`` seconds (a longer one costs less and may miss a short peak).
    """
    peak = largest = 0
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, largest
        while not done.is_set():
            pss, rss = tree_memory_kib(process.pid)
            peak, largest = max(peak, pss), max(largest, rss)
            time.sleep(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    if sample_memory:
        sampler.start()
    stdout, stderr = process.communicate()
    done.set()
    if sample_memory:
        sampler.join()
    wall = time.monotonic() - started
    result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    if result.returncode != 0:
        sys.exit(f"benchmark: {' '.join(command)} failed:\n{stderr}")
    return result, wall, (peak, largest)
