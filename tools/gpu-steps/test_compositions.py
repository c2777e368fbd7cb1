"""Unit tests for compositions.py and records.py (standard library only, no torch).

Run from the repository root:  python3 -m unittest discover -s tools/gpu-steps -p 'test_*.py'
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import compositions as C  # noqa: E402
import records as R  # noqa: E402


def _request_events(steps):
    """Per request id, its chunks and decodes in simulation order."""
    ev: dict[int, list] = {}
    for s in steps:
        for ch in s.prefill:
            ev.setdefault(ch.request, []).append(("chunk", s.sim_step, ch))
        for rid, ctx in zip(s.decode_requests, s.decode):
            ev.setdefault(rid, []).append(("decode", s.sim_step, ctx))
    return ev


class TestLimits(unittest.TestCase):
    def test_rejects_bad_limits(self):
        for kw in ({"budget": 0}, {"max_num_seqs": -1}, {"max_context": 1.5}, {"max_kv_tokens": 0}, {"budget": True}):
            with self.assertRaises(ValueError, msg=kw):
                C.Limits(**kw)

    def test_admits(self):
        lim = C.Limits(budget=100, max_num_seqs=3, max_context=1000, max_kv_tokens=2000)
        self.assertTrue(lim.admits(C.Composition("x", prefill=(C.Chunk(50, 10),), decode=(5, 6))))
        self.assertFalse(lim.admits(C.Composition("x", prefill=(C.Chunk(101, 0),))))  # budget
        self.assertFalse(lim.admits(C.Composition("x", decode=(1, 2, 3, 4))))  # seqs
        self.assertFalse(lim.admits(C.Composition("x", prefill=(C.Chunk(10, 995),))))  # context
        self.assertFalse(lim.admits(C.Composition("x", decode=(999, 999, 10))))  # kv 2001
        self.assertFalse(lim.admits(C.Composition("x")))  # empty

    def test_composition_counts(self):
        c = C.Composition("x", prefill=(C.Chunk(10, 5), C.Chunk(3, 0)), decode=(7, 1))
        self.assertEqual(c.num_tokens, 15)
        self.assertEqual(c.num_seqs, 4)
        self.assertEqual(c.kv_tokens, 15 + 3 + 8 + 2)
        self.assertEqual(c.max_seq_tokens, 15)
        self.assertTrue(c.is_mixed)


class TestGrid(unittest.TestCase):
    def test_default_grid_covers_the_ranges(self):
        g = C.grid_compositions(C.Limits())
        kinds = {c.kind for c in g}
        self.assertEqual(kinds, {"grid-prefill", "grid-prefill-prior", "grid-decode"})
        pf = [c for c in g if c.kind == "grid-prefill"]
        self.assertEqual({c.prefill[0].tokens for c in pf}, set(C.GRID_PREFILL_CHUNKS))
        self.assertTrue(all(ch.prior == 0 for c in pf for ch in c.prefill))
        self.assertIn(8, {len(c.prefill) for c in pf})
        pr = [c for c in g if c.kind == "grid-prefill-prior"]
        self.assertTrue(pr and all(ch.prior > 0 for c in pr for ch in c.prefill))
        dc = [c for c in g if c.kind == "grid-decode"]
        self.assertEqual({len(c.decode) for c in dc}, set(C.GRID_DECODE_BATCHES))
        self.assertEqual({c.decode[0] for c in dc}, set(C.GRID_DECODE_CONTEXTS))
        self.assertTrue(all(not c.prefill for c in dc) and all(not c.decode for c in pf + pr))

    def test_grid_respects_limits(self):
        lim = C.Limits(budget=1024, max_num_seqs=32, max_context=4096, max_kv_tokens=100_000)
        g = C.grid_compositions(lim)
        self.assertTrue(g)
        for c in g:
            self.assertTrue(lim.admits(c), c)
        self.assertLessEqual(max(len(c.decode) for c in g), 32)
        self.assertLessEqual(max(c.kv_tokens for c in g), 100_000)

    def test_grid_is_deterministic(self):
        self.assertEqual(C.grid_compositions(C.Limits()), C.grid_compositions(C.Limits()))


class TestScheduler(unittest.TestCase):
    LIMITS = (
        C.Limits(),
        C.Limits(budget=512, max_num_seqs=16, max_context=4096),
        C.Limits(budget=2048, max_num_seqs=64, max_context=8192, max_kv_tokens=30_000),
        C.Limits(budget=1000, max_num_seqs=256, max_context=32768, max_kv_tokens=12_000),
    )

    def test_determinism_under_seed(self):
        lim = C.Limits(max_kv_tokens=200_000)
        a = C.plan_compositions(7, lim, n_mixed=80)
        b = C.plan_compositions(7, lim, n_mixed=80)
        self.assertEqual(a, b)
        self.assertEqual([c.decode_requests for c in a], [c.decode_requests for c in b])
        c = C.plan_compositions(8, lim, n_mixed=80)
        self.assertNotEqual([x for x in a if x.kind == "mixed"], [x for x in c if x.kind == "mixed"])
        self.assertEqual(C.simulate_scheduler(3, lim, 500), C.simulate_scheduler(3, lim, 500))

    def test_budget_seqs_context_kv_never_exceeded(self):
        for lim in self.LIMITS:
            steps = C.simulate_scheduler(11, lim, 3000)
            self.assertTrue(steps)
            for s in steps:
                self.assertLessEqual(s.num_tokens, lim.budget)
                self.assertLessEqual(s.num_seqs, lim.max_num_seqs)
                self.assertLessEqual(s.kv_tokens, lim.kv_cap)
                self.assertTrue(lim.admits(s), s)
            for c in C.plan_compositions(11, lim, n_mixed=60):
                self.assertTrue(lim.admits(c), c)

    def test_budget_is_used_up_when_chunks_are_cut(self):
        lim = C.Limits(budget=2048, max_num_seqs=128, max_context=16384)  # no KV cap: only the budget cuts
        steps = C.simulate_scheduler(5, lim, 3000)
        partial_steps = 0
        for s in steps:
            for ch in s.prefill[:-1]:  # every chunk but the last completes its prompt
                self.assertEqual(ch.prior + ch.tokens, ch.prompt, s)
            if s.prefill and s.prefill[-1].prior + s.prefill[-1].tokens < s.prefill[-1].prompt:
                partial_steps += 1
                self.assertEqual(s.num_tokens, lim.budget, s)  # the last chunk was cut by the budget
        self.assertGreater(partial_steps, 10)

    def test_max_num_seqs_binds(self):
        lim = C.Limits(budget=8192, max_num_seqs=8, max_context=4096)
        steps = C.simulate_scheduler(2, lim, 2000)
        self.assertEqual(max(s.num_seqs for s in steps), 8)

    def _check_chains(self, steps, allow_preemption):
        restarts = 0
        for rid, events in _request_events(steps).items():
            kv = 0
            prompt = None
            for kind, step, x in events:
                if kind == "chunk":
                    if x.prior != kv:
                        self.assertTrue(allow_preemption, f"request {rid} step {step}: prior {x.prior} != {kv}")
                        self.assertEqual(x.prior, 0, f"request {rid} step {step}: restart must begin at 0")
                        restarts += 1
                        kv = 0
                    if prompt is not None and x.prior > 0:
                        self.assertEqual(x.prompt, prompt, f"request {rid}: prompt changed between chunks")
                    prompt = x.prompt
                    self.assertLessEqual(x.prior + x.tokens, x.prompt)
                    kv += x.tokens
                else:
                    self.assertEqual(x, kv, f"request {rid} step {step}: decode context {x} != kv {kv}")
                    self.assertGreaterEqual(kv, prompt, f"request {rid} decodes before its prompt is done")
                    kv += 1
        return restarts

    def test_chunk_prior_advances_by_previous_chunks(self):
        steps = C.simulate_scheduler(1, C.Limits(budget=1024, max_num_seqs=64, max_context=16384), 4000)
        self.assertEqual(self._check_chains(steps, allow_preemption=False), 0)
        multi = [c for c in _request_events(steps).values() if sum(1 for e in c if e[0] == "chunk") >= 3]
        self.assertTrue(multi, "expected prompts split over 3+ chunks")

    def test_preemption_restarts_from_zero(self):
        steps = C.simulate_scheduler(4, C.Limits(budget=2048, max_num_seqs=256, max_context=8192, max_kv_tokens=9000), 4000)
        self.assertGreater(self._check_chains(steps, allow_preemption=True), 0, "tight KV cap should preempt")

    def test_mixed_batches_present(self):
        lim = C.Limits(max_kv_tokens=400_000)
        comps = C.plan_compositions(0, lim, n_mixed=120)
        mixed = [c for c in comps if c.kind == "mixed"]
        self.assertEqual(len(mixed), 120)
        self.assertTrue(all(c.prefill and c.decode for c in mixed))
        with_prior = [c for c in mixed if any(ch.prior > 0 for ch in c.prefill)]
        self.assertGreater(len(with_prior), 10, "mixed batches should carry partial prefills")
        self.assertGreater(len({len(c.decode) for c in mixed}), 20, "decode batch sizes should vary")
        self.assertEqual([c.sim_step for c in mixed], sorted(c.sim_step for c in mixed))

    def test_no_grid_and_max_steps(self):
        lim = C.Limits(max_kv_tokens=400_000)
        only = C.plan_compositions(0, lim, n_mixed=30, include_grid=False)
        self.assertEqual({c.kind for c in only}, {"mixed"})
        full = C.plan_compositions(0, lim, n_mixed=30)
        sub = C.plan_compositions(0, lim, n_mixed=30, max_steps=25)
        self.assertEqual(len(sub), 25)
        self.assertEqual(sub[0], full[0])
        self.assertEqual(sub[-1], full[-1])
        self.assertTrue({"grid-prefill", "grid-decode", "mixed"} <= {c.kind for c in sub})

    def test_evenly_spaced(self):
        self.assertEqual(C.evenly_spaced(10, 3), [0, 4, 9])
        self.assertEqual(C.evenly_spaced(3, 5), [0, 1, 2])
        self.assertEqual(C.evenly_spaced(5, 1), [0])
        self.assertEqual(C.evenly_spaced(0, 4), [])
        for n, m in ((100, 7), (478, 50), (9, 8)):
            idx = C.evenly_spaced(n, m)
            self.assertEqual(len(idx), m)
            self.assertEqual(len(set(idx)), m)


def _rec(**kw):
    base = {"experiment": "h100-llama", "step": 3, "prefill": [{"tokens": 512, "prior": 0}], "decode": [612, 700]}
    base.update(kw)
    return base


class TestRecords(unittest.TestCase):
    def test_valid_records(self):
        R.validate_record(_rec())
        R.validate_record(_rec(duration_us=1234.5, duration_us_p10=1200, duration_us_p90=1300.25, reps=20),
                          require_duration=True)
        R.validate_record(_rec(prefill=[], decode=[1]))
        R.validate_record(_rec(prefill=[{"tokens": 16, "prior": 100, "prompt": 500}], decode=[]))

    def test_validation_errors(self):
        bad = {
            "missing experiment": ({k: v for k, v in _rec().items() if k != "experiment"}, "missing key 'experiment'"),
            "missing decode": ({k: v for k, v in _rec().items() if k != "decode"}, "missing key 'decode'"),
            "unknown key": (_rec(durationUs=3.0), "unknown key"),
            "empty experiment": (_rec(experiment=" "), "'experiment'"),
            "negative step": (_rec(step=-1), "'step'"),
            "bool step": (_rec(step=True), "'step'"),
            "float step": (_rec(step=1.0), "'step'"),
            "zero tokens": (_rec(prefill=[{"tokens": 0, "prior": 0}]), "tokens"),
            "negative prior": (_rec(prefill=[{"tokens": 5, "prior": -1}]), "prior"),
            "missing prior": (_rec(prefill=[{"tokens": 5}]), "prior"),
            "chunk unknown key": (_rec(prefill=[{"tokens": 5, "prior": 0, "new": 1}]), "unknown key"),
            "prompt too short": (_rec(prefill=[{"tokens": 5, "prior": 10, "prompt": 12}]), "prompt"),
            "prefill not list": (_rec(prefill={"tokens": 5, "prior": 0}), "'prefill' must be a list"),
            "decode zero": (_rec(decode=[0]), "decode[0]"),
            "decode float": (_rec(decode=[12.5]), "decode[0]"),
            "empty step": (_rec(prefill=[], decode=[]), "at least one"),
            "nan duration": (_rec(duration_us=math.nan), "duration_us"),
            "zero duration": (_rec(duration_us=0), "duration_us"),
            "string duration": (_rec(duration_us="12"), "duration_us"),
            "p10 above median": (_rec(duration_us=10.0, duration_us_p10=11.0), "p10"),
            "p90 below median": (_rec(duration_us=10.0, duration_us_p90=9.0), "p90"),
            "p90 without median": (_rec(duration_us_p90=9.0), "without 'duration_us'"),
            "reps zero": (_rec(reps=0), "reps"),
            "not an object": ([1, 2], "JSON object"),
        }
        for name, (rec, needle) in bad.items():
            with self.subTest(name):
                with self.assertRaises(R.RecordError) as cm:
                    R.validate_record(rec)
                self.assertIn(needle, str(cm.exception))
        with self.assertRaises(R.RecordError):
            R.validate_record(_rec(), require_duration=True)

    def test_all_errors_are_reported(self):
        errs = R.record_errors(_rec(step=-2, decode=[0, -1]))
        self.assertEqual(len(errs), 3)

    def test_make_record(self):
        r = R.make_record("e", 0, [(8, 0), (4, 16, 40), (3, 5, 8)], [9], duration_us=10.12345, p10=9, p90=11, reps=5)
        self.assertEqual(r["prefill"], [{"tokens": 8, "prior": 0}, {"tokens": 4, "prior": 16, "prompt": 40},
                                        {"tokens": 3, "prior": 5}])
        self.assertEqual(r["duration_us"], 10.123)
        with self.assertRaises(R.RecordError):
            R.make_record("e", 0, [(0, 0)], [])

    def test_round_trip_plain_and_gzip(self):
        recs = [
            R.make_record("h100-x", i, [(16 * (i + 1), i)], [100 + i] * i, duration_us=100.0 + i, p10=99.0 + i, p90=101.5 + i, reps=7)
            for i in range(25)
        ]
        recs.append(R.make_record("h100-x", 25, [], [1, 2, 3], duration_us=5.0))
        with tempfile.TemporaryDirectory() as d:
            for name in ("steps.jsonl", "steps.jsonl.gz"):
                p = os.path.join(d, name)
                self.assertEqual(R.write_records(p, recs, require_duration=True), len(recs))
                self.assertEqual(list(R.read_records(p, require_duration=True)), recs)
                self.assertFalse(any(f.endswith(".partial") or ".partial." in f for f in os.listdir(d)))
                self.assertEqual(R.check_file(p, require_duration=True), {"records": 26, "experiment": "h100-x"})
            with gzip.open(os.path.join(d, "steps.jsonl.gz"), "rt") as f:
                self.assertEqual(json.loads(f.readline()), recs[0])

    def test_read_reports_line_numbers(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "bad.jsonl")
            with open(p, "w") as f:
                f.write(json.dumps(_rec(step=0)) + "\n\n" + json.dumps(_rec(step=1, decode=[0])) + "\n")
            with self.assertRaises(R.RecordError) as cm:
                list(R.read_records(p))
            self.assertIn("bad.jsonl:3", str(cm.exception))
            with open(p, "w") as f:
                f.write("{not json\n")
            with self.assertRaises(R.RecordError) as cm:
                list(R.read_records(p))
            self.assertIn(":1", str(cm.exception))
            self.assertIn("invalid JSON", str(cm.exception))

    def test_check_file_rejects_duplicates_and_mixed_experiments(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "a.jsonl")
            R.write_records(p, [_rec(step=1), _rec(step=1)])
            with self.assertRaises(R.RecordError):
                R.check_file(p)
            R.write_records(p, [_rec(step=1), _rec(step=2, experiment="other")])
            with self.assertRaises(R.RecordError):
                R.check_file(p)
            with contextlib.redirect_stderr(io.StringIO()) as err:
                self.assertEqual(R.main([p, "--plan"]), 1)
            self.assertIn("several experiments", err.getvalue())

    def test_writer_validates_and_aborts(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "w.jsonl.gz")
            w = R.RecordWriter(p, require_duration=True)
            with self.assertRaises(R.RecordError):
                w.write(_rec())  # no duration
            w.abort()
            self.assertEqual(os.listdir(d), [])
            with self.assertRaises(RuntimeError):
                with R.RecordWriter(p) as w2:
                    w2.write(_rec())
                    raise RuntimeError("boom")
            self.assertEqual(os.listdir(d), [])  # nothing half-written left behind

    def test_compositions_become_valid_records(self):
        lim = C.Limits(max_kv_tokens=300_000)
        for i, c in enumerate(C.plan_compositions(2, lim, n_mixed=40)):
            rec = R.make_record("e", i, [(ch.tokens, ch.prior, ch.prompt) for ch in c.prefill], c.decode)
            self.assertEqual(sum(ch["tokens"] for ch in rec["prefill"]) + len(rec["decode"]), c.num_tokens)


if __name__ == "__main__":
    unittest.main()
