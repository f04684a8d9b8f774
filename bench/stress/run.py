"""``make bench-stress``: the stress-test generator on every bug/fix pair of the corpus
(``fixtures/stress`` and ``bench/stress/corpus``).

For each pair: generate the test from the buggy version, run it against the buggy and the
fixed version (see ``pairs.py``), classify the outcome. ``--repeat N`` runs the whole corpus N
times and reports whether every pair had the same outcome each time. Prints one line per pair,
then the totals and the bar: >= 80% caught, 0 false-fail, 0 hung, <= 10% skipped, every test
under 5 s, identical outcomes over the repeats. Exit 1 when the bar is not met.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pairs  # noqa: E402

OUTCOMES = ("caught", "false-fail", "false-pass", "skipped", "hung")
TEST_LIMIT_S = 5.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=[], help="pair ids containing these words")
    args = parser.parse_args()
    selected = [p for p in pairs.pairs() if not args.only or any(w in p.id for w in args.only)]
    history: dict[str, list[str]] = {p.id: [] for p in selected}
    slowest: dict[str, float] = {p.id: 0.0 for p in selected}
    started = time.monotonic()
    last: list[pairs.Result] = []
    for round_number in range(1, args.repeat + 1):
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            last = list(pool.map(pairs.run_pair, selected))
        for result in last:
            history[result.pair.id].append(result.outcome)
            times = [r.test_seconds for r in (result.bad, result.good) if r is not None]
            slowest[result.pair.id] = max([slowest[result.pair.id], *times])
            stray = [s for s in result.stray_files if not s.startswith("tests/")]
            if result.network or result.writes or stray:
                history[result.pair.id][-1] = "false-fail"  # touched what it must not
                print(f"{result.pair.id}: {[*result.network, *result.writes, *stray]}")
        print(f"round {round_number}/{args.repeat} done", file=sys.stderr)
    print(f"{'pair':44} {'outcome':11} {'slowest test':>12}")
    for result in last:
        pid = result.pair.id
        runs = history[pid]
        stable = "" if len(set(runs)) == 1 else f"  UNSTABLE {runs}"
        note = f"  {result.note}" if result.note else ""
        print(f"{pid:44} {runs[-1]:11} {slowest[pid]:>10.2f} s{stable}{note}")
    totals = Counter(h[-1] for h in history.values())
    total = len(selected)
    print()
    print(
        "  ".join(f"{name}: {totals.get(name, 0)}" for name in OUTCOMES)
        + f"  (of {total} pairs, {args.repeat} run(s), {time.monotonic() - started:.0f} s)"
    )
    caught = totals.get("caught", 0) / total if total else 0.0
    skipped = totals.get("skipped", 0) / total if total else 0.0
    stable = all(len(set(h)) == 1 for h in history.values())
    slow = max(slowest.values(), default=0.0)
    print(
        f"caught {caught:.0%}, skipped {skipped:.0%}, slowest test {slow:.2f} s, "
        f"outcomes identical over {args.repeat} run(s): {'yes' if stable else 'no'}"
    )
    ok = (
        caught >= 0.8
        and totals.get("false-fail", 0) == 0
        and totals.get("hung", 0) == 0
        and skipped <= 0.1
        and slow < TEST_LIMIT_S
        and stable
    )
    print("bar met" if ok else "bar NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
