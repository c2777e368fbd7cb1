"""Step compositions for the GPU step-latency harness (pure Python, no torch).

A *composition* is what one engine step (one forward pass) computes: a list of prefill
chunks, each ``(tokens, prior)`` -- ``tokens`` new tokens of a request whose first ``prior``
tokens are already in the KV cache -- and a list of decodes, each the context length (tokens
already in KV) of a request that computes exactly one new token.

Two families are generated, both deterministic:

* a **grid** (no randomness): pure prefill of several chunk lengths and batch sizes, prefill
  chunks with prior context, and pure decode over batch sizes x context lengths;
* **mixed** batches drawn from a small simulation of vLLM's chunked-prefill scheduler driven by a
  seeded ``random.Random``: every running decode gets one token first, then prefill chunks fill
  what is left of ``max_num_batched_tokens`` in arrival order (a partially prefilled request
  first), the last chunk possibly partial, so later chunks of that request have ``prior > 0``;
  at most ``max_num_seqs`` requests run at once; the KV cache holds at most ``max_kv_tokens``
  tokens (newest requests are preempted and recomputed when decodes run out of room, as vLLM
  does with recompute preemption).

Every composition respects ``budget`` (tokens per step), ``max_num_seqs`` (sequences per
step), ``max_context`` (tokens of one request) and ``max_kv_tokens`` (KV tokens resident during
the step, counting the tokens written by the step itself).
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Sequence

DEFAULT_BUDGET = 8192  # vLLM max_num_batched_tokens
DEFAULT_MAX_NUM_SEQS = 512
DEFAULT_MAX_CONTEXT = 32768
DEFAULT_N_MIXED = 400

GRID_PREFILL_CHUNKS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
GRID_PREFILL_BATCHES = (1, 2, 4, 8, 16, 32, 64)
GRID_PRIOR_CHUNKS = (64, 256, 1024, 2048, 4096, 8192)
GRID_PRIORS = (256, 1024, 4096, 8192, 16384, 24576)
GRID_PRIOR_BATCHES = (1, 4)
GRID_DECODE_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
GRID_DECODE_CONTEXTS = (128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)

KINDS = ("grid-prefill", "grid-prefill-prior", "grid-decode", "mixed")


@dataclass(frozen=True)
class Chunk:
    """One prefill chunk: ``tokens`` new tokens on top of ``prior`` tokens already in KV."""

    tokens: int
    prior: int
    prompt: int | None = None  # the request's whole prompt length, when known
    request: int | None = None  # request id inside a scheduler simulation (not written out)


@dataclass(frozen=True)
class Composition:
    kind: str
    prefill: tuple[Chunk, ...] = ()
    decode: tuple[int, ...] = ()
    sim_step: int | None = None  # index of the simulated scheduler step it came from
    decode_requests: tuple[int, ...] | None = field(default=None, compare=False)

    @property
    def prefill_tokens(self) -> int:
        return sum(c.tokens for c in self.prefill)

    @property
    def num_tokens(self) -> int:
        """Tokens computed by the step (what counts against max_num_batched_tokens)."""
        return self.prefill_tokens + len(self.decode)

    @property
    def num_seqs(self) -> int:
        return len(self.prefill) + len(self.decode)

    @property
    def kv_tokens(self) -> int:
        """KV tokens resident while the step runs, including the ones it writes."""
        return sum(c.prior + c.tokens for c in self.prefill) + sum(c + 1 for c in self.decode)

    @property
    def max_seq_tokens(self) -> int:
        """Longest sequence (prior + new tokens) in the step."""
        lengths = [c.prior + c.tokens for c in self.prefill] + [c + 1 for c in self.decode]
        return max(lengths) if lengths else 0

    @property
    def is_mixed(self) -> bool:
        return bool(self.prefill) and bool(self.decode)


@dataclass(frozen=True)
class Limits:
    budget: int = DEFAULT_BUDGET
    max_num_seqs: int = DEFAULT_MAX_NUM_SEQS
    max_context: int = DEFAULT_MAX_CONTEXT
    max_kv_tokens: int | None = None  # None: unbounded

    def __post_init__(self) -> None:
        for name in ("budget", "max_num_seqs", "max_context"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.max_kv_tokens is not None and (
            not isinstance(self.max_kv_tokens, int) or self.max_kv_tokens < 1
        ):
            raise ValueError(f"max_kv_tokens must be a positive integer or None, got {self.max_kv_tokens!r}")

    @property
    def kv_cap(self) -> float:
        return math.inf if self.max_kv_tokens is None else self.max_kv_tokens

    def admits(self, comp: Composition) -> bool:
        """True when ``comp`` respects every limit."""
        if comp.num_tokens < 1 or comp.num_tokens > self.budget:
            return False
        if comp.num_seqs > self.max_num_seqs:
            return False
        if comp.kv_tokens > self.kv_cap:
            return False
        for c in comp.prefill:
            if c.tokens < 1 or c.prior < 0 or c.prior + c.tokens > self.max_context:
                return False
        for ctx in comp.decode:
            # a decode at context c writes one token at position c; c == max_context is
            # allowed so the grid reaches contexts such as 32768 with the default max_context
            if ctx < 1 or ctx > self.max_context:
                return False
        return True


# --------------------------------------------------------------------------------------------
# Grid
# --------------------------------------------------------------------------------------------


def grid_compositions(
    limits: Limits,
    prefill_chunks: Sequence[int] = GRID_PREFILL_CHUNKS,
    prefill_batches: Sequence[int] = GRID_PREFILL_BATCHES,
    prior_chunks: Sequence[int] = GRID_PRIOR_CHUNKS,
    priors: Sequence[int] = GRID_PRIORS,
    prior_batches: Sequence[int] = GRID_PRIOR_BATCHES,
    decode_batches: Sequence[int] = GRID_DECODE_BATCHES,
    decode_contexts: Sequence[int] = GRID_DECODE_CONTEXTS,
) -> list[Composition]:
    """The controlled grid; points that break a limit are left out (never clipped)."""
    out: list[Composition] = []
    for n in prefill_chunks:
        for b in prefill_batches:
            comp = Composition("grid-prefill", prefill=tuple(Chunk(n, 0) for _ in range(b)))
            if limits.admits(comp):
                out.append(comp)
    for n in prior_chunks:
        for p in priors:
            for b in prior_batches:
                comp = Composition("grid-prefill-prior", prefill=tuple(Chunk(n, p) for _ in range(b)))
                if limits.admits(comp):
                    out.append(comp)
    for b in decode_batches:
        for c in decode_contexts:
            comp = Composition("grid-decode", decode=tuple([c] * b))
            if limits.admits(comp):
                out.append(comp)
    return out


# --------------------------------------------------------------------------------------------
# Scheduler simulation (mixed batches)
# --------------------------------------------------------------------------------------------


@dataclass
class _Request:
    rid: int
    prompt: int  # tokens to prefill (original prompt, or prompt + outputs after a preemption)
    output: int  # tokens to generate in total
    kv: int = 0  # tokens of this request in the KV cache
    generated: int = 0
    orig_prompt: int = 0

    def __post_init__(self) -> None:
        self.orig_prompt = self.prompt

    def preempt(self) -> None:
        """Recompute preemption: free the KV cache; prompt + generated tokens are prefilled again."""
        self.prompt = self.orig_prompt + self.generated
        self.kv = 0

    @property
    def prefilling(self) -> bool:
        return self.kv < self.prompt


def _log_uniform_int(rng: random.Random, lo: int, hi: int) -> int:
    if hi <= lo:
        return lo
    return int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method is fine for the small rates used here.
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _sample_request(rng: random.Random, rid: int, limits: Limits) -> _Request:
    max_prompt = max(16, min(limits.max_context // 2, 16384))
    u = rng.random()
    if u < 0.5:
        prompt = _log_uniform_int(rng, 16, min(2048, max_prompt))
    elif u < 0.85:
        prompt = _log_uniform_int(rng, min(2048, max_prompt), min(8192, max_prompt))
    else:
        prompt = _log_uniform_int(rng, min(8192, max_prompt), max_prompt)
    prompt = max(1, min(prompt, limits.max_context - 1))
    output = _log_uniform_int(rng, 1, 1024)
    output = max(1, min(output, limits.max_context - prompt))
    if limits.max_kv_tokens is not None:
        # a request must fit in the KV cache by itself, or it could never run
        prompt = max(1, min(prompt, limits.max_kv_tokens // 2))
        output = max(1, min(output, limits.max_kv_tokens - prompt - 1))
    return _Request(rid, prompt, output)


def simulate_scheduler(
    seed: int,
    limits: Limits,
    n_steps: int,
    rate_range: tuple[float, float] = (0.02, 3.0),
) -> list[Composition]:
    """Simulate ``n_steps`` chunked-prefill scheduler steps; return every non-empty step.

    Arrivals are Poisson with a rate redrawn (log-uniformly from ``rate_range``) at the start
    of each phase of 50..400 steps, so the trajectory visits idle, steady and overloaded
    regimes. Policy per step (vLLM chunked prefill):

    1. running requests that finished their prompt decode one token each, oldest first, while
       the token budget lasts; when the KV cache cannot hold one more token per decode, the
       newest running request is preempted (KV freed, put back at the head of the queue, to
       recompute prompt + generated tokens);
    2. running requests still prefilling (a partial chunk from an earlier step), oldest first,
       then waiting requests in arrival order get chunks of ``min(remaining prompt, remaining
       budget, free KV)`` while budget and free KV last and fewer than ``max_num_seqs``
       requests run.
    """
    rng = random.Random(seed)
    cap = limits.kv_cap
    waiting: deque[_Request] = deque()
    running: list[_Request] = []  # arrival (admission) order
    next_rid = 0
    steps: list[Composition] = []
    phase_left = 0
    rate = 0.0
    lo, hi = rate_range

    for step in range(n_steps):
        if phase_left <= 0:
            phase_left = rng.randint(50, 400)
            rate = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        phase_left -= 1
        for _ in range(_poisson(rng, rate)):
            waiting.append(_sample_request(rng, next_rid, limits))
            next_rid += 1

        budget = limits.budget
        kv_used = sum(r.kv for r in running)

        # 1. decodes, oldest first; preempt the newest when the KV cache is full
        decoders = [r for r in running if not r.prefilling]
        while decoders and kv_used + min(len(decoders), budget) > cap:
            victim = running.pop()  # newest
            kv_used -= victim.kv
            if victim in decoders:
                decoders.remove(victim)
            victim.preempt()
            waiting.appendleft(victim)
        decode_sched: list[_Request] = []
        for r in decoders:
            if budget <= 0:
                break
            decode_sched.append(r)
            budget -= 1
        kv_used += len(decode_sched)

        # 2. prefill chunks: partial (running) prefills first, then waiting in arrival order
        chunks: list[tuple[_Request, int]] = []
        for r in [r for r in running if r.prefilling]:
            if budget <= 0 or kv_used >= cap:
                break
            n = int(min(r.prompt - r.kv, budget, cap - kv_used))
            if n <= 0:
                break
            chunks.append((r, n))
            budget -= n
            kv_used += n
        while waiting and budget > 0 and len(running) < limits.max_num_seqs and kv_used < cap:
            r = waiting[0]
            n = int(min(r.prompt - r.kv, budget, cap - kv_used))
            if n <= 0:
                break
            waiting.popleft()
            running.append(r)
            chunks.append((r, n))
            budget -= n
            kv_used += n

        if not decode_sched and not chunks:
            if running and kv_used >= cap:
                # the cache is full of partially prefilled requests: free the newest
                victim = running.pop()
                victim.preempt()
                waiting.appendleft(victim)
            continue
        comp = Composition(
            "mixed",
            prefill=tuple(Chunk(n, r.kv, r.prompt, r.rid) for r, n in chunks),
            decode=tuple(r.kv for r in decode_sched),
            sim_step=step,
            decode_requests=tuple(r.rid for r in decode_sched),
        )
        steps.append(comp)

        # apply the step
        for r in decode_sched:
            r.kv += 1
            r.generated += 1
        for r, n in chunks:
            r.kv += n
            if not r.prefilling:
                r.generated += 1  # the last prompt chunk samples a token
        running = [r for r in running if r.generated < r.output]
    return steps


def mixed_compositions(seed: int, limits: Limits, n: int = DEFAULT_N_MIXED) -> list[Composition]:
    """``n`` mixed steps (prefill and decode together) sampled from a scheduler simulation.

    Returned in simulation order. Fewer than ``n`` only if the simulation (bounded length)
    produced fewer mixed steps, which only happens with extreme limits.
    """
    if n <= 0:
        return []
    n_steps = max(2000, 40 * n)
    steps = simulate_scheduler(seed, limits, n_steps)
    mixed = [s for s in steps if s.is_mixed and limits.admits(s)]
    if len(mixed) <= n:
        return mixed
    rng = random.Random(seed * 7919 + 1)
    keep = sorted(rng.sample(range(len(mixed)), n))
    return [mixed[i] for i in keep]


def plan_compositions(
    seed: int,
    limits: Limits,
    n_mixed: int = DEFAULT_N_MIXED,
    include_grid: bool = True,
    max_steps: int | None = None,
) -> list[Composition]:
    """Grid (if asked) then mixed batches; ``max_steps`` keeps an evenly spaced subset."""
    comps: list[Composition] = []
    if include_grid:
        comps.extend(grid_compositions(limits))
    comps.extend(mixed_compositions(seed, limits, n_mixed))
    if max_steps is not None and max_steps < len(comps):
        comps = [comps[i] for i in evenly_spaced(len(comps), max_steps)]
    return comps


def evenly_spaced(n: int, m: int) -> list[int]:
    """``m`` distinct indices spread evenly over ``range(n)`` (first and last included)."""
    if m <= 0 or n <= 0:
        return []
    if m >= n:
        return list(range(n))
    if m == 1:
        return [0]
    return sorted({round(i * (n - 1) / (m - 1)) for i in range(m)})


def summarize(comps: Iterable[Composition]) -> dict:
    comps = list(comps)
    by_kind: dict[str, int] = {}
    for c in comps:
        by_kind[c.kind] = by_kind.get(c.kind, 0) + 1
    return {
        "steps": len(comps),
        "by_kind": by_kind,
        "max_tokens": max((c.num_tokens for c in comps), default=0),
        "max_seqs": max((c.num_seqs for c in comps), default=0),
        "max_kv_tokens": max((c.kv_tokens for c in comps), default=0),
        "max_seq_tokens": max((c.max_seq_tokens for c in comps), default=0),
        "mixed_with_partial_prior": sum(
            1 for c in comps if c.is_mixed and any(ch.prior > 0 for ch in c.prefill)
        ),
    }
