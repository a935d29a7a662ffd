"""Summarise a py-spy speedscope profile: the frames with the most self and inclusive samples.

Run: python bench/hotspots.py bench/results/profile-*.speedscope.json [--top 25]
"""
from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

PARKED = re.compile(r"^(SocketMixin\.(send|recv|recv_into)|poll\.poll|Hub\.run|epoll\.poll) ")


def load(path: Path) -> tuple[list[str], list[list[int]], list[float]]:
    """(frame labels, sample stacks root-first, sample weights) of every profile in the file."""
    data = json.loads(path.read_text())
    frames = [f"{f['name']} ({Path(f.get('file') or '?').name}:{f.get('line', '?')})"
              for f in data["shared"]["frames"]]
    stacks: list[list[int]] = []
    weights: list[float] = []
    for prof in data["profiles"]:
        if prof.get("type") == "sampled":
            stacks += prof["samples"]
            weights += prof["weights"]
    return frames, stacks, weights


def _function(label: str) -> str:
    """'name (file.py:12)' -> 'name (file.py)': inclusive shares add up over a function's lines."""
    return label.rsplit(":", 1)[0] + ")" if label.endswith(")") and ":" in label else label


def summarise(path: Path, top: int = 25) -> str:
    """A text report: top frames by self share and by inclusive share of samples."""
    frames, stacks, weights = load(path)
    total = sum(weights) or 1.0
    own: Counter = Counter()
    incl: Counter = Counter()
    func = [_function(label) for label in frames]
    for stack, weight in zip(stacks, weights):
        if stack:
            own[frames[stack[-1]]] += weight
        for label in {func[i] for i in stack}:
            incl[label] += weight
    lines = [f"{path.name}: {len(stacks)} samples", "", "Self (leaf frame of each sample):"]
    lines += [f"  {100 * w / total:5.1f}%  {name}" for name, w in own.most_common(top)]
    lines += ["", "Inclusive by function (anywhere on the stack):"]
    lines += [f"  {100 * w / total:5.1f}%  {name}" for name, w in incl.most_common(top)]
    busy = [(s, w) for s, w in zip(stacks, weights) if s and not PARKED.match(frames[s[-1]])]
    busy_total = sum(w for _, w in busy) or 1.0
    cpu: Counter = Counter()
    for stack, weight in busy:
        for label in {func[i] for i in stack}:
            cpu[label] += weight
    lines += ["", f"Inclusive over the {100 * busy_total / total:.0f}% of samples not parked in a "
              "socket send/recv/poll leaf (those are largely run-queue waits on a busy machine):"]
    lines += [f"  {100 * w / busy_total:5.1f}%  {name}" for name, w in cpu.most_common(top)]
    return "\n".join(lines)


if __name__ == "__main__":
    count = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 25
    print(summarise(Path(sys.argv[1]), count))
