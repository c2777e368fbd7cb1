"""Canonical step records (JSON Lines, one step per line), pure Python, no torch.

    {"experiment": "h100-llama-3.1-8b-instruct", "step": 17, "duration_us": 29600.5,
     "prefill": [{"tokens": 512, "prior": 0}], "decode": [612, 700, 845]}

* ``prefill[].tokens``: new tokens computed this step (>= 1); ``prefill[].prior``: tokens of
  that request already in the KV cache before the step (>= 0); optional ``prefill[].prompt``:
  the request's whole prompt length (>= prior + tokens; default prior + tokens).
* ``decode[]``: context length (tokens already in KV, >= 1) of each decoding request.
* ``duration_us``: measured wall time of the step in microseconds (> 0); absent in a plan.
* optional ``duration_us_p10`` / ``duration_us_p90`` (spread over repetitions, p10 <= median
  <= p90) and ``reps`` (repetitions behind the median, >= 1).

Any other key is an error (typos must not pass silently). Files ending in ``.gz`` are gzip
compressed. Writers write to a temporary file and rename it into place when closed.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
from typing import Any, Iterable, Iterator

REQUIRED_KEYS = ("experiment", "step", "prefill", "decode")
OPTIONAL_KEYS = ("duration_us", "duration_us_p10", "duration_us_p90", "reps")
ALLOWED_KEYS = frozenset(REQUIRED_KEYS + OPTIONAL_KEYS)
CHUNK_KEYS = frozenset(("tokens", "prior", "prompt"))


class RecordError(ValueError):
    """A record breaks the canonical format; ``where`` tells the file and line when known."""

    def __init__(self, message: str, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def record_errors(rec: Any, require_duration: bool = False) -> list[str]:
    """Every problem with ``rec`` (empty list when it is valid)."""
    if not isinstance(rec, dict):
        return [f"record must be a JSON object, got {type(rec).__name__}"]
    errs: list[str] = []
    for k in REQUIRED_KEYS:
        if k not in rec:
            errs.append(f"missing key {k!r}")
    unknown = sorted(set(rec) - ALLOWED_KEYS)
    if unknown:
        errs.append(f"unknown key(s) {', '.join(map(repr, unknown))}")
    if "experiment" in rec and not (isinstance(rec["experiment"], str) and rec["experiment"].strip()):
        errs.append("'experiment' must be a non-empty string")
    if "step" in rec and not (_is_int(rec["step"]) and rec["step"] >= 0):
        errs.append(f"'step' must be an integer >= 0, got {rec['step']!r}")

    n_seqs = 0
    pf = rec.get("prefill")
    if "prefill" in rec:
        if not isinstance(pf, list):
            errs.append("'prefill' must be a list")
        else:
            n_seqs += len(pf)
            for i, ch in enumerate(pf):
                if not isinstance(ch, dict):
                    errs.append(f"prefill[{i}] must be an object")
                    continue
                bad = sorted(set(ch) - CHUNK_KEYS)
                if bad:
                    errs.append(f"prefill[{i}] has unknown key(s) {', '.join(map(repr, bad))}")
                t, p = ch.get("tokens"), ch.get("prior")
                if not (_is_int(t) and t >= 1):
                    errs.append(f"prefill[{i}].tokens must be an integer >= 1, got {t!r}")
                if not (_is_int(p) and p >= 0):
                    errs.append(f"prefill[{i}].prior must be an integer >= 0, got {p!r}")
                if "prompt" in ch:
                    pr = ch["prompt"]
                    if not _is_int(pr):
                        errs.append(f"prefill[{i}].prompt must be an integer, got {pr!r}")
                    elif _is_int(t) and _is_int(p) and pr < p + t:
                        errs.append(f"prefill[{i}].prompt ({pr}) < prior + tokens ({p + t})")
    dc = rec.get("decode")
    if "decode" in rec:
        if not isinstance(dc, list):
            errs.append("'decode' must be a list")
        else:
            n_seqs += len(dc)
            for i, c in enumerate(dc):
                if not (_is_int(c) and c >= 1):
                    errs.append(f"decode[{i}] must be an integer context length >= 1, got {c!r}")
    if isinstance(pf, list) and isinstance(dc, list) and n_seqs == 0:
        errs.append("a step needs at least one prefill chunk or decode")

    if "duration_us" in rec:
        d = rec["duration_us"]
        if not (_is_num(d) and d > 0):
            errs.append(f"'duration_us' must be a finite number > 0, got {d!r}")
    elif require_duration:
        errs.append("missing key 'duration_us'")
    for k in ("duration_us_p10", "duration_us_p90"):
        if k in rec:
            if "duration_us" not in rec:
                errs.append(f"{k!r} without 'duration_us'")
            if not (_is_num(rec[k]) and rec[k] > 0):
                errs.append(f"{k!r} must be a finite number > 0, got {rec[k]!r}")
    d, lo, hi = rec.get("duration_us"), rec.get("duration_us_p10"), rec.get("duration_us_p90")
    if _is_num(d) and _is_num(lo) and lo > d * (1 + 1e-9):
        errs.append(f"'duration_us_p10' ({lo}) > 'duration_us' ({d})")
    if _is_num(d) and _is_num(hi) and hi < d * (1 - 1e-9):
        errs.append(f"'duration_us_p90' ({hi}) < 'duration_us' ({d})")
    if "reps" in rec and not (_is_int(rec["reps"]) and rec["reps"] >= 1):
        errs.append(f"'reps' must be an integer >= 1, got {rec['reps']!r}")
    return errs


def validate_record(rec: Any, require_duration: bool = False, where: str | None = None) -> dict:
    """Return ``rec`` when valid, else raise :class:`RecordError` listing every problem."""
    errs = record_errors(rec, require_duration=require_duration)
    if errs:
        raise RecordError("; ".join(errs), where)
    return rec


def make_record(
    experiment: str,
    step: int,
    prefill: Iterable[tuple[int, int] | tuple[int, int, int | None] | dict],
    decode: Iterable[int],
    duration_us: float | None = None,
    p10: float | None = None,
    p90: float | None = None,
    reps: int | None = None,
) -> dict:
    """Build and validate a record. ``prefill`` items: (tokens, prior[, prompt]) or dicts."""
    chunks = []
    for ch in prefill:
        if isinstance(ch, dict):
            chunks.append(dict(ch))
            continue
        tokens, prior = int(ch[0]), int(ch[1])
        d = {"tokens": tokens, "prior": prior}
        if len(ch) > 2 and ch[2] is not None and int(ch[2]) != prior + tokens:
            d["prompt"] = int(ch[2])
        chunks.append(d)
    rec: dict[str, Any] = {
        "experiment": experiment,
        "step": int(step),
        "prefill": chunks,
        "decode": [int(c) for c in decode],
    }
    if duration_us is not None:
        rec["duration_us"] = round(float(duration_us), 3)
        if p10 is not None:
            rec["duration_us_p10"] = round(float(p10), 3)
        if p90 is not None:
            rec["duration_us_p90"] = round(float(p90), 3)
    if reps is not None:
        rec["reps"] = int(reps)
    return validate_record(rec)


def _dumps(rec: dict) -> str:
    return json.dumps(rec, separators=(",", ":"), allow_nan=False)


def _open_text(path: str, mode: str):
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, mode + "b"), encoding="utf-8", newline="\n")
    return open(path, mode, encoding="utf-8", newline="\n")


class RecordWriter:
    """Validating JSON Lines writer (gzip when ``path`` ends in .gz), atomic on close.

    Records go to ``<path>.partial`` and are renamed to ``path`` by :meth:`close` (also on
    leaving a ``with`` block normally). :meth:`abort` deletes the partial file.
    """

    def __init__(self, path: str, require_duration: bool = False):
        self.path = path
        self.require_duration = require_duration
        self.tmp = path + ".partial" + (".gz" if path.endswith(".gz") else "")
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        self._f = _open_text(self.tmp, "w")
        self.count = 0
        self.closed = False

    def write(self, rec: dict) -> None:
        validate_record(rec, require_duration=self.require_duration, where=f"{self.path} record {self.count}")
        self._f.write(_dumps(rec) + "\n")
        self.count += 1

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        if self.closed:
            return
        self._f.close()
        os.replace(self.tmp, self.path)
        self.closed = True

    def abort(self) -> None:
        if self.closed:
            return
        self._f.close()
        try:
            os.remove(self.tmp)
        except FileNotFoundError:
            pass
        self.closed = True

    def __enter__(self) -> "RecordWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_records(path: str, recs: Iterable[dict], require_duration: bool = False) -> int:
    with RecordWriter(path, require_duration=require_duration) as w:
        for r in recs:
            w.write(r)
        return w.count


def read_records(path: str, require_duration: bool = False) -> Iterator[dict]:
    """Yield validated records; errors name the file and the 1-based line number."""
    with _open_text(path, "r") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise RecordError(f"invalid JSON ({e.msg})", where) from None
            yield validate_record(rec, require_duration=require_duration, where=where)


def check_file(path: str, require_duration: bool = False) -> dict:
    """Validate a whole file; also checks one experiment per file and unique step numbers."""
    experiments: set[str] = set()
    steps: set[int] = set()
    n = 0
    for rec in read_records(path, require_duration=require_duration):
        experiments.add(rec["experiment"])
        if rec["step"] in steps:
            raise RecordError(f"duplicate step {rec['step']}", path)
        steps.add(rec["step"])
        n += 1
    if len(experiments) > 1:
        raise RecordError(f"several experiments in one file: {sorted(experiments)}", path)
    return {"records": n, "experiment": next(iter(experiments), None)}


def main(argv: list[str] | None = None) -> int:
    """``python3 records.py FILE...``: validate step files (measured ones need duration_us)."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(description="Validate canonical step record files (.jsonl or .jsonl.gz).")
    ap.add_argument("files", nargs="+")
    ap.add_argument("--plan", action="store_true", help="files are plans: duration_us not required")
    args = ap.parse_args(argv)
    rc = 0
    for p in args.files:
        try:
            info = check_file(p, require_duration=not args.plan)
            print(f"{p}: ok, {info['records']} records, experiment {info['experiment']}")
        except (RecordError, OSError) as e:
            print(f"{p}: {e}", file=sys.stderr)
            rc = 1
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
