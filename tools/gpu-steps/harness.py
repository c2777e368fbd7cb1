#!/usr/bin/env python3
"""Time LLM serving steps (one forward pass of a batch composition) on one NVIDIA GPU.

Builds the decoder stack of a HuggingFace ``config.json`` with random BF16 weights (Llama-style
dense or Mixtral / Qwen-MoE), keeps a KV cache per request, and times forward steps whose
compositions (prefill chunks with prior context, decodes with context lengths) come from
``compositions.py``. Writes canonical step records (``records.py``) and a metadata file.

torch is imported lazily: ``--help`` and ``--dry-run`` (plan only, no timing) need nothing but
the Python standard library. See README.md in this folder for usage and for what differs from
vLLM.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import math
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import compositions as C  # noqa: E402
import records as R  # noqa: E402

HARNESS_VERSION = "1"
META_FORMAT = "stepfit-gpu-steps-meta/1"
GIB = 1024**3
BYTES_BF16 = 2

DENSE_TYPES = {"llama", "mistral", "qwen2", "qwen3"}
MOE_TYPES = {"mixtral", "qwen2_moe", "qwen3_moe"}

# torch and torch.nn.functional, imported on first use (see _import_torch)
torch = None
F = None


class HarnessError(Exception):
    """A problem the user can fix (bad option, unsupported model, no GPU); printed without a traceback."""


# ============================================================================================
# Model config (pure Python)
# ============================================================================================


@dataclass(frozen=True)
class ModelSpec:
    name: str
    model_type: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    rms_eps: float
    rope_theta: float
    max_position: int
    qkv_bias: bool = False
    qk_norm: bool = False
    # MoE (num_experts == 0: dense)
    num_experts: int = 0
    top_k: int = 0
    expert_intermediate: int = 0
    router: str = ""  # "topk-softmax" (Mixtral) | "softmax-topk" (Qwen)
    norm_topk_prob: bool = False
    shared_expert_intermediate: int = 0
    dense_layers: tuple[int, ...] = ()  # MoE models: layers whose MLP is dense
    ignored: tuple[str, ...] = ()  # config features not modeled

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def q_size(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_size(self) -> int:
        return self.kv_heads * self.head_dim

    def layer_is_moe(self, i: int) -> bool:
        return self.is_moe and i not in self.dense_layers

    def attn_params(self) -> int:
        p = self.hidden * (self.q_size + 2 * self.kv_size) + self.q_size * self.hidden + 2 * self.hidden
        if self.qkv_bias:
            p += self.q_size + 2 * self.kv_size
        if self.qk_norm:
            p += 2 * self.head_dim
        return p

    def mlp_params(self, i: int) -> int:
        if not self.layer_is_moe(i):
            return 3 * self.hidden * self.intermediate
        p = self.num_experts * 3 * self.hidden * self.expert_intermediate + self.hidden * self.num_experts
        if self.shared_expert_intermediate:
            p += 3 * self.hidden * self.shared_expert_intermediate + self.hidden
        return p

    def layer_bytes(self, i: int) -> int:
        return (self.attn_params() + self.mlp_params(i)) * BYTES_BF16

    def layers_bytes(self, k: int) -> int:
        return sum(self.layer_bytes(i) for i in range(k))

    def head_bytes(self) -> int:
        return (self.vocab * self.hidden + self.hidden) * BYTES_BF16

    def kv_bytes_per_token_layer(self) -> int:
        return 2 * self.kv_size * BYTES_BF16

    def activation_bytes(self, tokens: int, seqs: int, lm_head: bool) -> int:
        """Rough peak of live activations for one step of ``tokens`` tokens (a planning estimate)."""
        t = tokens
        b = t * (self.q_size + 2 * self.kv_size) * 2  # qkv + rotated copies
        b += t * self.q_size * 2  # attention output
        b += t * self.hidden * 6  # residual stream, norms, projections
        if self.is_moe:
            k, f = self.top_k, self.expert_intermediate
            b += t * k * (2 * self.hidden + 4 * f)  # gathered tokens, gate/up, act, expert out
            b += t * self.num_experts * 3  # router logits (fp32 softmax)
            b += t * 3 * self.shared_expert_intermediate
            b += t * 3 * self.intermediate * (1 if self.dense_layers else 0)
        else:
            b += t * 3 * self.intermediate
        b *= BYTES_BF16
        if lm_head:
            b += seqs * self.vocab * (BYTES_BF16 + 4)
        return b

    def summary(self) -> dict:
        d = asdict(self)
        d["dense_layers"] = list(self.dense_layers)
        d["ignored"] = list(self.ignored)
        d["params_attention_per_layer"] = self.attn_params()
        d["params_mlp_per_layer"] = sorted({self.mlp_params(i) for i in range(self.layers)})
        d["weight_bytes_all_layers"] = self.layers_bytes(self.layers)
        d["kv_bytes_per_token_per_layer"] = self.kv_bytes_per_token_layer()
        return d


def load_model_spec(path: str, allow_unknown: bool = False, ignore_quantization: bool = False) -> ModelSpec:
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except OSError as e:
        raise HarnessError(f"cannot read config {path}: {e}") from None
    except json.JSONDecodeError as e:
        raise HarnessError(f"{path} is not valid JSON: {e}") from None
    return spec_from_config(cfg, default_name(path), allow_unknown, ignore_quantization)


def default_name(config_path: str) -> str:
    p = os.path.abspath(config_path)
    base = os.path.basename(p)
    if base == "config.json":
        return os.path.basename(os.path.dirname(p)) or "model"
    return re.sub(r"\.json$", "", base)


def spec_from_config(cfg: dict, name: str, allow_unknown: bool = False, ignore_quantization: bool = False) -> ModelSpec:
    if not isinstance(cfg, dict):
        raise HarnessError("config.json must hold a JSON object")
    ignored: list[str] = []
    if "quantization_config" in cfg and not ignore_quantization:
        q = cfg["quantization_config"]
        method = q.get("quant_method", "?") if isinstance(q, dict) else "?"
        raise HarnessError(
            f"config has quantization_config ({method}); this harness runs BF16 weights only. "
            "Pass --ignore-quantization to time the BF16 equivalent anyway (recorded in the metadata)."
        )
    if "quantization_config" in cfg:
        ignored.append("quantization_config (timed as BF16)")
    if isinstance(cfg.get("text_config"), dict):
        cfg = {**cfg["text_config"], "model_type": cfg["text_config"].get("model_type", cfg.get("model_type"))}
    mt = str(cfg.get("model_type", "")).lower()
    if "kv_lora_rank" in cfg or "q_lora_rank" in cfg:
        raise HarnessError(f"model_type {mt!r} uses multi-head latent attention (MLA), which this harness does not model")
    if mt.startswith("llama4"):
        raise HarnessError("llama4 (chunked attention, no-RoPE layers, interleaved MoE with a shared expert) is not modeled")
    if mt not in DENSE_TYPES | MOE_TYPES and not allow_unknown:
        raise HarnessError(
            f"model_type {mt!r} is not one of the supported types "
            f"({', '.join(sorted(DENSE_TYPES | MOE_TYPES))}); --allow-unknown-arch treats it as Llama-style"
        )

    def req(key: str) -> int:
        v = cfg.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise HarnessError(f"config key {key!r} must be a positive integer, got {v!r}")
        return v

    hidden = req("hidden_size")
    heads = req("num_attention_heads")
    layers = req("num_hidden_layers")
    kv_heads = cfg.get("num_key_value_heads") or heads
    head_dim = cfg.get("head_dim") or hidden // heads
    if heads % kv_heads:
        raise HarnessError(f"num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads}")
    act = cfg.get("hidden_act", cfg.get("hidden_activation", "silu"))
    if act not in ("silu", "swish"):
        ignored.append(f"hidden_act {act!r} (timed as SiLU; same cost)")
    if cfg.get("sliding_window") and cfg.get("use_sliding_window", True) and mt != "qwen2":
        ignored.append(f"sliding_window {cfg.get('sliding_window')} (full attention timed)")
    if mt == "qwen2" and cfg.get("use_sliding_window"):
        ignored.append("use_sliding_window (full attention timed)")
    if cfg.get("rope_scaling"):
        ignored.append("rope_scaling (does not change the cost)")
    if cfg.get("partial_rotary_factor", 1) not in (1, 1.0):
        ignored.append("partial_rotary_factor (full head_dim rotated)")

    num_experts = int(cfg.get("num_local_experts") or cfg.get("num_experts") or 0)
    moe = mt in MOE_TYPES or (allow_unknown and num_experts > 0)
    top_k = int(cfg.get("num_experts_per_tok") or 0) if moe else 0
    if moe and (num_experts <= 0 or top_k <= 0 or top_k > num_experts):
        raise HarnessError(f"MoE config needs num_local_experts/num_experts and 1 <= num_experts_per_tok <= experts; got {num_experts}, {top_k}")
    dense_layers: tuple[int, ...] = ()
    if moe:
        step = int(cfg.get("decoder_sparse_step") or 1)
        only = set(cfg.get("mlp_only_layers") or [])
        dense_layers = tuple(i for i in range(layers) if i in only or (i + 1) % step != 0)
    intermediate = req("intermediate_size") if (not moe or dense_layers) else int(cfg.get("intermediate_size") or 0)
    return ModelSpec(
        name=name,
        model_type=mt,
        hidden=hidden,
        layers=layers,
        heads=heads,
        kv_heads=int(kv_heads),
        head_dim=int(head_dim),
        intermediate=intermediate,
        vocab=req("vocab_size"),
        rms_eps=float(cfg.get("rms_norm_eps", 1e-6)),
        rope_theta=float(cfg.get("rope_theta", 10000.0)),
        max_position=int(cfg.get("max_position_embeddings") or C.DEFAULT_MAX_CONTEXT),
        qkv_bias=bool(cfg.get("attention_bias", False)) or mt in ("qwen2", "qwen2_moe"),
        qk_norm=mt in ("qwen3", "qwen3_moe"),
        num_experts=num_experts if moe else 0,
        top_k=top_k,
        expert_intermediate=int(cfg.get("moe_intermediate_size") or cfg.get("intermediate_size") or 0) if moe else 0,
        router=("topk-softmax" if mt == "mixtral" else "softmax-topk") if moe else "",
        norm_topk_prob=bool(cfg.get("norm_topk_prob", False)) if moe else False,
        shared_expert_intermediate=int(cfg.get("shared_expert_intermediate_size") or 0) if moe else 0,
        dense_layers=dense_layers,
        ignored=tuple(ignored),
    )


# ============================================================================================
# Step layout (pure Python): where each sequence's queries and KV live
# ============================================================================================


@dataclass
class SeqSlot:
    q_start: int  # first row of this sequence in the flattened step input
    q_len: int  # new tokens this step
    prior: int  # tokens already in KV
    kv_start: int  # first row of this sequence in the (contiguous) KV pool
    kind: str  # "prefill" | "decode"

    @property
    def kv_len(self) -> int:
        return self.prior + self.q_len


@dataclass
class Layout:
    seqs: list[SeqSlot]
    total_q: int
    total_kv: int
    max_q: int
    max_k: int
    cu_q: list[int]
    cu_k: list[int]
    slots: list[int]  # KV pool row written by each new token
    positions: list[int]  # RoPE position of each new token
    last_token: list[int]  # row of each sequence's last new token (lm_head input)
    groups: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    # groups: runs of consecutive sequences with equal (q_len, kv_len):
    #   (q_start, kv_start, count, q_len, kv_len)


def build_layout(comp: C.Composition) -> Layout:
    """Flatten a composition: sequences sorted by (q_len, kv_len), KV rows packed back to back.

    Each sequence owns rows ``[kv_start, kv_start + prior + q_len)`` of the KV pool: its prior
    context followed by the rows this step writes, so attention over ``pool[:total_kv]`` with
    ``cu_k`` is a zero-copy varlen call and equal-shape runs view as dense batches.
    """
    raw = [("prefill", c.tokens, c.prior) for c in comp.prefill] + [("decode", 1, ctx) for ctx in comp.decode]
    if not raw:
        raise ValueError("empty composition")
    raw.sort(key=lambda s: (s[1], s[1] + s[2]))
    seqs: list[SeqSlot] = []
    cu_q, cu_k = [0], [0]
    slots: list[int] = []
    positions: list[int] = []
    last_token: list[int] = []
    q = kv = 0
    for kind, q_len, prior in raw:
        seqs.append(SeqSlot(q, q_len, prior, kv, kind))
        slots.extend(range(kv + prior, kv + prior + q_len))
        positions.extend(range(prior, prior + q_len))
        q += q_len
        kv += prior + q_len
        last_token.append(q - 1)
        cu_q.append(q)
        cu_k.append(kv)
    groups: list[tuple[int, int, int, int, int]] = []
    for s in seqs:
        if groups and groups[-1][3] == s.q_len and groups[-1][4] == s.kv_len:
            g = groups[-1]
            groups[-1] = (g[0], g[1], g[2] + 1, g[3], g[4])
        else:
            groups.append((s.q_start, s.kv_start, 1, s.q_len, s.kv_len))
    return Layout(
        seqs=seqs,
        total_q=q,
        total_kv=kv,
        max_q=max(s.q_len for s in seqs),
        max_k=max(s.kv_len for s in seqs),
        cu_q=cu_q,
        cu_k=cu_k,
        slots=slots,
        positions=positions,
        last_token=last_token,
        groups=groups,
    )


# ============================================================================================
# Options, naming, planning (pure Python)
# ============================================================================================


def slug(s: str) -> str:
    s = s.lower().replace("nvidia", " ")
    s = re.sub(r"[^a-z0-9.]+", "-", s).strip("-.")
    return s or "x"


def gpu_slug_from_device_name(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'h100-80gb-hbm3'."""
    return slug(name)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="harness.py",
        description="Time forward steps of random-weight BF16 decoder stacks on one NVIDIA GPU and "
        "write canonical step records for `stepfit fit`. --dry-run plans the compositions "
        "without torch or a GPU.",
    )
    ap.add_argument("--config", required=True, help="HuggingFace config.json of the model")
    ap.add_argument("--gpu-name", help="GPU label used in the experiment name (default: from torch.cuda.get_device_name)")
    ap.add_argument("--model-name", help="model label in the experiment name (default: the config's folder name)")
    ap.add_argument("--out-dir", default=".", help="output folder (default: .)")
    ap.add_argument("--seed", type=int, default=0, help="seed for mixed compositions, weights and inputs (default 0)")
    ap.add_argument("--reps", type=int, default=20, help="timed repetitions per step (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed forwards before the timed ones (default 3)")
    ap.add_argument("--max-steps", type=int, help="time at most this many compositions (an evenly spaced subset of the plan)")
    ap.add_argument("--budget", type=int, default=C.DEFAULT_BUDGET, help=f"max_num_batched_tokens (default {C.DEFAULT_BUDGET})")
    ap.add_argument("--max-num-seqs", type=int, default=C.DEFAULT_MAX_NUM_SEQS, help=f"max_num_seqs (default {C.DEFAULT_MAX_NUM_SEQS})")
    ap.add_argument("--max-context", type=int, help=f"max tokens of one request (default: min({C.DEFAULT_MAX_CONTEXT}, max_position_embeddings))")
    ap.add_argument("--max-kv-tokens", type=int, help="cap on KV tokens resident in one step (default: what fits in free GPU memory)")
    ap.add_argument("--n-mixed", type=int, default=C.DEFAULT_N_MIXED, help=f"random mixed batches (default {C.DEFAULT_N_MIXED})")
    ap.add_argument("--no-grid", action="store_true", help="leave out the grid (mixed batches only)")
    ap.add_argument("--layers", help="decoder layers to build and time: an integer K (scaled by num_hidden_layers/K), "
                    "'auto' (as many as fit in about half the GPU memory), or all (default)")
    ap.add_argument("--tp", type=int, default=1, help="tensor parallel size; only 1 is supported (one GPU)")
    ap.add_argument("--attn", choices=("auto", "flash_attn", "aten_flash", "sdpa"), default="auto",
                    help="attention implementation (default auto: flash_attn package, else PyTorch's varlen flash op, else SDPA)")
    ap.add_argument("--moe-impl", choices=("auto", "grouped_mm", "loop"), default="auto",
                    help="MoE experts: torch._grouped_mm (one kernel per projection) or a per-expert loop (default auto)")
    ap.add_argument("--cuda-graphs", action="store_true", help="capture each step in CUDA graphs and time graph replays (vLLM uses CUDA graphs)")
    ap.add_argument("--no-lm-head", action="store_true", help="exclude final norm + lm_head (default: included, last token of each sequence)")
    ap.add_argument("--order", choices=("shuffled", "plan"), default="shuffled",
                    help="execution order: seeded shuffle spreads clock/thermal drift across kinds (default) or plan order")
    ap.add_argument("--max-minutes", type=float, help="stop starting new steps after this many minutes and keep what was timed")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                    help="cpu: smoke test of the code path only (experiment named cpu-smoke-*, never for fitting)")
    ap.add_argument("--gpu-mem-gib", type=float, default=80.0,
                    help="GPU memory assumed by --dry-run to size the KV cap and --layers auto (default 80)")
    ap.add_argument("--ignore-quantization", action="store_true", help="time a quantized model's config as BF16")
    ap.add_argument("--allow-unknown-arch", action="store_true", help="treat an unknown model_type as Llama-style (MoE when it names experts)")
    ap.add_argument("--dry-run", action="store_true", help="write the planned compositions (<exp>.plan.jsonl) and stop; needs no torch")
    args = ap.parse_args(argv)
    for name in ("reps", "budget", "max_num_seqs"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warmup < 0:
        ap.error("--warmup must be >= 0")
    if args.max_steps is not None and args.max_steps < 1:
        ap.error("--max-steps must be >= 1")
    if args.n_mixed < 0:
        ap.error("--n-mixed must be >= 0")
    if args.max_kv_tokens is not None and args.max_kv_tokens < 1:
        ap.error("--max-kv-tokens must be >= 1")
    if args.tp != 1:
        ap.error("--tp: only 1 is supported; this harness times one GPU without tensor parallelism "
                 "(time TP=1, or add collectives in the fitted basis)")
    if args.layers not in (None, "auto", "all"):
        try:
            if int(args.layers) < 1:
                raise ValueError
        except ValueError:
            ap.error("--layers must be a positive integer, 'auto' or 'all'")
    return args


def resolve_layers(spec: ModelSpec, layers_opt: str | None, mem_bytes: float, lm_head: bool) -> int:
    if layers_opt in (None, "all"):
        return spec.layers
    if layers_opt == "auto":
        budget = 0.5 * mem_bytes - (spec.head_bytes() if lm_head else 0)
        k = 0
        while k < spec.layers and spec.layers_bytes(k + 1) <= budget:
            k += 1
        if k == 0:
            raise HarnessError(f"one layer of {spec.name} ({spec.layer_bytes(0) / GIB:.1f} GiB) does not fit in half the GPU memory")
        return k
    k = int(layers_opt)
    if k > spec.layers:
        raise HarnessError(f"--layers {k} > num_hidden_layers {spec.layers}")
    return k


def kv_cap_from_memory(spec: ModelSpec, layers: int, free_bytes: float, args: argparse.Namespace, lm_head: bool) -> int:
    """KV tokens that fit in ``free_bytes`` after reserving room for activations (and graphs)."""
    act = spec.activation_bytes(args.budget, min(args.max_num_seqs, args.budget), lm_head)
    reserve = act * (3 if args.cuda_graphs else 2) + 1.5 * GIB
    per_token = spec.kv_bytes_per_token_layer() * layers
    cap = int((free_bytes - reserve) // per_token)
    if cap < args.budget:
        raise HarnessError(
            f"only {max(cap, 0)} KV tokens fit after weights and activations (need at least --budget {args.budget}); "
            "use fewer --layers or a smaller --budget"
        )
    return cap


def make_limits(spec: ModelSpec, args: argparse.Namespace, kv_cap: int | None) -> C.Limits:
    max_context = args.max_context or min(C.DEFAULT_MAX_CONTEXT, spec.max_position)
    if args.max_kv_tokens is not None:
        kv_cap = args.max_kv_tokens if kv_cap is None else min(kv_cap, args.max_kv_tokens)
    return C.Limits(budget=args.budget, max_num_seqs=args.max_num_seqs, max_context=max_context, max_kv_tokens=kv_cap)


def plan(args: argparse.Namespace, limits: C.Limits) -> list[C.Composition]:
    return C.plan_compositions(args.seed, limits, n_mixed=args.n_mixed, include_grid=not args.no_grid, max_steps=args.max_steps)


def composition_record(experiment: str, step: int, comp: C.Composition, **timing) -> dict:
    return R.make_record(
        experiment,
        step,
        [(c.tokens, c.prior, c.prompt) for c in comp.prefill],
        comp.decode,
        **timing,
    )


def execution_order(n: int, seed: int, order: str) -> list[int]:
    idx = list(range(n))
    if order == "shuffled":
        random.Random(seed * 1000003 + 17).shuffle(idx)
    return idx


def percentile(sorted_vals: list[float], q: float) -> float:
    """Linear-interpolation percentile of already sorted values (numpy's default)."""
    if not sorted_vals:
        raise ValueError("no values")
    pos = (len(sorted_vals) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_json_atomic(path: str, obj: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".partial"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def base_meta(args: argparse.Namespace, spec: ModelSpec, experiment: str, layers: int, lm_head: bool,
              limits: C.Limits, comps: list[C.Composition]) -> dict:
    return {
        "format": META_FORMAT,
        "harness_version": HARNESS_VERSION,
        "experiment": experiment,
        "date": now_iso(),
        "model": {
            "name": spec.name,
            "config_path": os.path.abspath(args.config),
            "config_sha256": file_sha256(args.config),
            "spec": spec.summary(),
        },
        "parallelism": {"tp": 1, "pp": 1, "ep": 1},
        "dtype": "bfloat16",
        "kv_cache_dtype": "bfloat16",
        "engine_limits": {
            "max_num_batched_tokens": limits.budget,
            "max_num_seqs": limits.max_num_seqs,
            "max_context": limits.max_context,
            "max_kv_tokens": limits.max_kv_tokens,
        },
        "layers": {
            "timed": layers,
            "total": spec.layers,
            "scale": spec.layers / layers,
            "scaled": layers != spec.layers,
            "rule": "duration = (time of the timed layers) * total/timed + time of final norm and lm_head (not scaled)"
            if lm_head else "duration = (time of the timed layers) * total/timed",
            "timed_layer_kinds": ["moe" if spec.layer_is_moe(i) else "dense" for i in range(layers)],
            "warning": (
                "the model mixes dense and MoE layers and only some were timed: per-layer scaling is approximate"
                if layers != spec.layers and spec.is_moe and spec.dense_layers else None
            ),
        },
        "lm_head": {
            "included": lm_head,
            "what": "final RMSNorm + lm_head matmul on the last token of every sequence in the step; "
            "embedding lookup and sampling excluded" if lm_head else "embedding, final norm, lm_head and sampling excluded",
        },
        "compositions": {
            "seed": args.seed,
            "summary": C.summarize(comps),
            "step_kinds": [c.kind for c in comps],
            "grid": not args.no_grid,
            "n_mixed_requested": args.n_mixed,
            "max_steps": args.max_steps,
        },
        "options": {k: v for k, v in vars(args).items()},
        "command": [sys.executable, *sys.argv],
    }


# ============================================================================================
# Dry run
# ============================================================================================


def run_dry(args: argparse.Namespace, spec: ModelSpec) -> int:
    lm_head = not args.no_lm_head
    mem = args.gpu_mem_gib * GIB
    layers = resolve_layers(spec, args.layers, mem, lm_head)
    kv_cap = None
    if args.max_kv_tokens is None:
        free = 0.92 * mem - spec.layers_bytes(layers) - (spec.head_bytes() if lm_head else 0) - 0.5 * GIB
        kv_cap = kv_cap_from_memory(spec, layers, free, args, lm_head)
    limits = make_limits(spec, args, kv_cap)
    comps = plan(args, limits)
    gpu = slug(args.gpu_name) if args.gpu_name else "dryrun"
    model = slug(args.model_name or spec.name)
    experiment = f"{gpu}-{model}"
    plan_path = os.path.join(args.out_dir, f"{experiment}.plan.jsonl")
    meta_path = os.path.join(args.out_dir, f"{experiment}.plan.meta.json")
    R.write_records(plan_path, (composition_record(experiment, i, c) for i, c in enumerate(comps)))
    meta = base_meta(args, spec, experiment, layers, lm_head, limits, comps)
    meta["dry_run"] = True
    meta["kv_cap_source"] = "--max-kv-tokens" if args.max_kv_tokens is not None else f"estimate for {args.gpu_mem_gib} GiB GPU memory"
    meta["note"] = "a plan: no step was timed; the GPU run sizes the KV cap from measured free memory, so its plan can differ"
    write_json_atomic(meta_path, meta)
    print(json.dumps({"plan": plan_path, "meta": meta_path, "layers": layers, **C.summarize(comps)}))
    return 0


# ============================================================================================
# torch part (imported lazily)
# ============================================================================================


def _import_torch():
    global torch, F
    if torch is None:
        try:
            import torch as _torch
            import torch.nn.functional as _F
        except ImportError as e:
            raise HarnessError(f"torch is needed to time steps ({e}); --dry-run and --help work without it") from None
        torch, F = _torch, _F
    return torch


@dataclass
class StepTensors:
    layout: Layout
    cu_q: object
    cu_k: object
    slots: object
    positions: object
    last_token: object
    masks: dict  # (q_len, kv_len) -> mask for the SDPA fallback


class Attention:
    """Varlen causal attention over the packed KV pool (bottom-right aligned causal mask).

    Backends: ``flash_attn`` (flash_attn.flash_attn_varlen_func, if installed), ``aten_flash``
    (PyTorch's bundled FlashAttention-2 varlen op torch.ops.aten._flash_attention_forward),
    ``sdpa`` (F.scaled_dot_product_attention on runs of equal-shape sequences; bottom-right
    causal via torch.nn.attention.bias.causal_lower_right, GQA via enable_gqa). Variants of the
    SDPA fallback: ``sdpa-boolmask`` (explicit boolean masks) and ``-repeatkv`` (K/V heads
    repeated, a copy) for older PyTorch versions.
    """

    def __init__(self, backend: str, heads: int, kv_heads: int, head_dim: int):
        self.backend = backend
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.scale = head_dim ** -0.5
        self.repeat_kv = backend.endswith("-repeatkv")
        self.bool_mask = "boolmask" in backend
        self._fa = None
        if backend == "flash_attn":
            from flash_attn import flash_attn_varlen_func  # type: ignore

            self._fa = flash_attn_varlen_func
        self._lower_right = None
        if backend.startswith("sdpa") and not self.bool_mask:
            from torch.nn.attention.bias import causal_lower_right  # torch >= 2.3

            self._lower_right = causal_lower_right

    def masks_for(self, layout: Layout, device) -> dict:
        if not self.backend.startswith("sdpa"):
            return {}
        masks = {}
        for _, _, _, t, lk in layout.groups:
            if 1 < t < lk and (t, lk) not in masks:
                if self.bool_mask:
                    masks[(t, lk)] = torch.ones(t, lk, dtype=torch.bool, device=device).tril(diagonal=lk - t)
                else:
                    masks[(t, lk)] = self._lower_right(t, lk)
        return masks

    def __call__(self, q, k, v, st: StepTensors):
        """q: (T, H, D) contiguous; k, v: (total_kv, KVH, D) rows of the pool. Returns (T, H, D)."""
        lay = st.layout
        if self.backend == "flash_attn":
            return self._fa(q, k, v, st.cu_q, st.cu_k, lay.max_q, lay.max_k,
                            dropout_p=0.0, softmax_scale=self.scale, causal=True)
        if self.backend == "aten_flash":
            return torch.ops.aten._flash_attention_forward(
                q, k, v, st.cu_q, st.cu_k, lay.max_q, lay.max_k, 0.0, True, False, scale=self.scale)[0]
        H, KVH, D = self.heads, self.kv_heads, self.head_dim
        out = torch.empty_like(q)
        gqa = KVH != H
        kw = {"enable_gqa": True} if (gqa and not self.repeat_kv) else {}
        for qs, ks, b, t, lk in lay.groups:
            qg = q[qs:qs + b * t].view(b, t, H, D).transpose(1, 2)
            kg = k[ks:ks + b * lk].view(b, lk, KVH, D).transpose(1, 2)
            vg = v[ks:ks + b * lk].view(b, lk, KVH, D).transpose(1, 2)
            if gqa and self.repeat_kv:
                kg = kg.repeat_interleave(H // KVH, dim=1)
                vg = vg.repeat_interleave(H // KVH, dim=1)
            if t == lk:
                o = F.scaled_dot_product_attention(qg, kg, vg, is_causal=True, scale=self.scale, **kw)
            elif t == 1:
                o = F.scaled_dot_product_attention(qg, kg, vg, scale=self.scale, **kw)
            else:
                o = F.scaled_dot_product_attention(qg, kg, vg, attn_mask=st.masks[(t, lk)], scale=self.scale, **kw)
            out[qs:qs + b * t].view(b, t, H, D).copy_(o.transpose(1, 2))
        return out


def reference_attention(q, k, v, layout: Layout, heads: int, kv_heads: int, scale: float):
    """Plain fp32 attention per sequence with a bottom-right causal mask (for the self-check)."""
    out = torch.zeros(q.shape, dtype=torch.float32, device=q.device)
    rep = heads // kv_heads
    for s in layout.seqs:
        qi = q[s.q_start:s.q_start + s.q_len].float().transpose(0, 1)  # (H, t, D)
        ki = k[s.kv_start:s.kv_start + s.kv_len].float().transpose(0, 1).repeat_interleave(rep, 0)
        vi = v[s.kv_start:s.kv_start + s.kv_len].float().transpose(0, 1).repeat_interleave(rep, 0)
        scores = (qi @ ki.transpose(-1, -2)) * scale  # (H, t, L)
        cols = torch.arange(s.kv_len, device=q.device)[None, :]
        rows = (s.prior + torch.arange(s.q_len, device=q.device))[:, None]
        scores = scores.masked_fill(cols > rows, float("-inf"))
        out[s.q_start:s.q_start + s.q_len] = (scores.softmax(-1) @ vi).transpose(0, 1)
    return out


SELF_CHECK_COMPOSITION = C.Composition(
    "self-check",
    prefill=(C.Chunk(19, 37), C.Chunk(23, 0), C.Chunk(5, 0), C.Chunk(5, 0), C.Chunk(7, 130)),
    decode=(50, 9, 9, 200),
)


class DecoderStack:
    """Random-weight BF16 decoder layers, an optional final norm + lm_head, and a KV pool."""

    def __init__(self, spec: ModelSpec, n_layers: int, device, lm_head: bool, seed: int, moe_impl: str):
        self.spec, self.n_layers, self.device = spec, n_layers, device
        self.dtype = torch.bfloat16
        self.moe_impl = moe_impl
        self.has_rms_norm = hasattr(F, "rms_norm")
        g = torch.Generator(device=device)
        g.manual_seed(seed)
        self._gen = g

        def rnd(*shape, fan_in):
            t = torch.empty(shape, dtype=self.dtype, device=device)
            return t.normal_(0.0, fan_in ** -0.5, generator=g)

        def ones(n):
            return torch.ones(n, dtype=self.dtype, device=device)

        s = spec
        self.layers = []
        for i in range(n_layers):
            w = {
                "ln1": ones(s.hidden),
                "ln2": ones(s.hidden),
                "wqkv": rnd(s.q_size + 2 * s.kv_size, s.hidden, fan_in=s.hidden),
                "wo": rnd(s.hidden, s.q_size, fan_in=s.q_size),
            }
            if s.qkv_bias:
                w["bqkv"] = rnd(s.q_size + 2 * s.kv_size, fan_in=s.hidden)
            if s.qk_norm:
                w["qn"], w["kn"] = ones(s.head_dim), ones(s.head_dim)
            if s.layer_is_moe(i):
                f = s.expert_intermediate
                w["router"] = rnd(s.num_experts, s.hidden, fan_in=s.hidden)
                w["w13"] = rnd(s.num_experts, 2 * f, s.hidden, fan_in=s.hidden)  # gate|up, (E, 2f, d)
                w["w2"] = rnd(s.num_experts, s.hidden, f, fan_in=f)  # down, (E, d, f)
                if s.shared_expert_intermediate:
                    sf = s.shared_expert_intermediate
                    w["sh13"] = rnd(2 * sf, s.hidden, fan_in=s.hidden)
                    w["sh2"] = rnd(s.hidden, sf, fan_in=sf)
                    w["shgate"] = rnd(1, s.hidden, fan_in=s.hidden)
            else:
                w["w13"] = rnd(2 * s.intermediate, s.hidden, fan_in=s.hidden)
                w["w2"] = rnd(s.hidden, s.intermediate, fan_in=s.intermediate)
            self.layers.append(w)
        self.final_norm = ones(s.hidden) if lm_head else None
        self.lm_head = rnd(s.vocab, s.hidden, fan_in=s.hidden) if lm_head else None
        self.expert_ids = torch.arange(s.num_experts, device=device) if s.is_moe else None
        self.k_cache: list = []
        self.v_cache: list = []
        self.kv_rows = 0
        self.cos = self.sin = None
        self.attn: Attention | None = None

    # ---- setup ---------------------------------------------------------------------------
    def allocate_kv(self, rows: int) -> None:
        s = self.spec
        self.k_cache, self.v_cache = [], []
        for _ in range(self.n_layers):
            for lst in (self.k_cache, self.v_cache):
                t = torch.empty(rows, s.kv_heads, s.head_dim, dtype=self.dtype, device=self.device)
                lst.append(t.normal_(0.0, 1.0, generator=self._gen))
        self.kv_rows = rows

    def build_rope(self, max_positions: int) -> None:
        d = self.spec.head_dim
        inv = 1.0 / (self.spec.rope_theta ** (torch.arange(0, d, 2, dtype=torch.float32, device=self.device) / d))
        ang = torch.outer(torch.arange(max_positions, dtype=torch.float32, device=self.device), inv)
        self.cos, self.sin = ang.cos().to(self.dtype), ang.sin().to(self.dtype)

    def step_tensors(self, layout: Layout) -> StepTensors:
        if layout.total_kv > self.kv_rows:
            raise RuntimeError(f"step needs {layout.total_kv} KV rows, pool has {self.kv_rows}")
        dev = self.device

        def i32(v):
            return torch.tensor(v, dtype=torch.int32, device=dev)

        def i64(v):
            return torch.tensor(v, dtype=torch.int64, device=dev)

        return StepTensors(layout, i32(layout.cu_q), i32(layout.cu_k), i64(layout.slots),
                           i64(layout.positions), i64(layout.last_token), self.attn.masks_for(layout, dev))

    # ---- forward -------------------------------------------------------------------------
    def _rms(self, x, w):
        if self.has_rms_norm:
            return F.rms_norm(x, (x.shape[-1],), w, self.spec.rms_eps)
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.spec.rms_eps)
        return xf.to(x.dtype) * w

    @staticmethod
    def _rope(x, cos, sin):
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)

    def _dense_mlp(self, h, w13, w2):
        gu = F.linear(h, w13)
        f = gu.shape[-1] // 2
        return F.linear(F.silu(gu[:, :f]) * gu[:, f:], w2)

    def _moe(self, h, w, impl: str | None = None):
        s = self.spec
        impl = impl or self.moe_impl
        T, k, f = h.shape[0], s.top_k, s.expert_intermediate
        logits = F.linear(h, w["router"])  # (T, E)
        if s.router == "topk-softmax":  # Mixtral: softmax over the top-k logits
            top_v, top_i = logits.topk(k, dim=-1)
            top_w = top_v.float().softmax(-1)
        else:  # Qwen: softmax over all experts, then top-k (renormalized if norm_topk_prob)
            probs = logits.float().softmax(-1)
            top_w, top_i = probs.topk(k, dim=-1)
            if s.norm_topk_prob:
                top_w = top_w / top_w.sum(-1, keepdim=True)
        flat = top_i.reshape(-1)
        sorted_e, order = torch.sort(flat, stable=True)
        tok = order // k
        xs = h.index_select(0, tok)  # tokens grouped by expert, (T*k, d)
        if impl == "grouped_mm":
            offs = torch.searchsorted(sorted_e, self.expert_ids, right=True).to(torch.int32)
            gu = torch._grouped_mm(xs, w["w13"].transpose(-2, -1), offs=offs)
            ys = torch._grouped_mm(F.silu(gu[:, :f]) * gu[:, f:], w["w2"].transpose(-2, -1), offs=offs)
        else:
            counts = torch.bincount(flat, minlength=s.num_experts).tolist()  # host sync
            ys = torch.empty_like(xs)
            start = 0
            for e, c in enumerate(counts):
                if c:
                    ys[start:start + c] = self._dense_mlp(xs[start:start + c], w["w13"][e], w["w2"][e])
                    start += c
        ys = ys * top_w.reshape(-1).index_select(0, order).unsqueeze(1).to(ys.dtype)
        out = torch.zeros_like(h).index_add_(0, tok, ys)
        if s.shared_expert_intermediate:
            gate = torch.sigmoid(F.linear(h, w["shgate"]))
            out = out + gate * self._dense_mlp(h, w["sh13"], w["sh2"])
        return out

    def layer(self, i: int, x, st: StepTensors, cos, sin):
        s, w = self.spec, self.layers[i]
        T = x.shape[0]
        h = self._rms(x, w["ln1"])
        qkv = F.linear(h, w["wqkv"], w.get("bqkv"))
        q, k, v = qkv.split((s.q_size, s.kv_size, s.kv_size), dim=-1)
        q = q.view(T, s.heads, s.head_dim)
        k = k.view(T, s.kv_heads, s.head_dim)
        v = v.view(T, s.kv_heads, s.head_dim)
        if s.qk_norm:
            q, k = self._rms(q, w["qn"]), self._rms(k, w["kn"])
        q, k = self._rope(q, cos, sin), self._rope(k, cos, sin)
        kc, vc = self.k_cache[i], self.v_cache[i]
        kc.index_copy_(0, st.slots, k)
        vc.index_copy_(0, st.slots, v)
        n = st.layout.total_kv
        o = self.attn(q, kc[:n], vc[:n], st)
        x = x + F.linear(o.reshape(T, s.q_size), w["wo"])
        h = self._rms(x, w["ln2"])
        if s.layer_is_moe(i):
            return x + self._moe(h, w)
        return x + self._dense_mlp(h, w["w13"], w["w2"])

    def forward_layers(self, x, st: StepTensors):
        cos = self.cos.index_select(0, st.positions).unsqueeze(1)
        sin = self.sin.index_select(0, st.positions).unsqueeze(1)
        for i in range(self.n_layers):
            x = self.layer(i, x, st, cos, sin)
        return x

    def forward_head(self, x, st: StepTensors):
        h = self._rms(x.index_select(0, st.last_token), self.final_norm)
        return F.linear(h, self.lm_head)


# ---- backend selection with numerical self-checks -----------------------------------------


def _attention_candidates(device_type: str, requested: str) -> list[str]:
    sdpa = ["sdpa", "sdpa-boolmask", "sdpa-repeatkv", "sdpa-boolmask-repeatkv"]
    if requested == "sdpa":
        return sdpa
    if requested != "auto":
        return [requested]
    if device_type != "cuda":
        return sdpa
    return ["flash_attn", "aten_flash"] + sdpa


def check_attention(backend: str, spec: ModelSpec, device, gen) -> tuple[bool, str]:
    """Compare a backend with fp32 reference attention on a small mixed composition."""
    try:
        att = Attention(backend, spec.heads, spec.kv_heads, spec.head_dim)
    except Exception as e:  # noqa: BLE001 - any import/attribute failure disqualifies the backend
        return False, f"unavailable: {type(e).__name__}: {e}"
    lay = build_layout(SELF_CHECK_COMPOSITION)
    dt = torch.bfloat16
    q = torch.randn(lay.total_q, spec.heads, spec.head_dim, device=device, generator=gen).to(dt)
    k = torch.randn(lay.total_kv, spec.kv_heads, spec.head_dim, device=device, generator=gen).to(dt)
    v = torch.randn(lay.total_kv, spec.kv_heads, spec.head_dim, device=device, generator=gen).to(dt)
    st = StepTensors(lay, torch.tensor(lay.cu_q, dtype=torch.int32, device=device),
                     torch.tensor(lay.cu_k, dtype=torch.int32, device=device), None, None, None,
                     att.masks_for(lay, device))
    try:
        with torch.inference_mode():
            out = att(q, k, v, st).float()
    except Exception as e:  # noqa: BLE001
        return False, f"failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    ref = reference_attention(q, k, v, lay, spec.heads, spec.kv_heads, att.scale)
    err = (out - ref).abs().max().item()
    if not math.isfinite(err) or err > 3e-2:
        return False, f"wrong result: max abs error {err:.3g} vs fp32 reference"
    return True, f"ok: max abs error {err:.3g} vs fp32 reference"


def select_attention(spec: ModelSpec, device, requested: str, gen) -> tuple[str, dict]:
    report = {}
    for cand in _attention_candidates(device.type, requested):
        ok, why = check_attention(cand, spec, device, gen)
        report[cand] = why
        if ok:
            return cand, report
    raise HarnessError(f"no attention backend passed the self-check: {json.dumps(report)}")


def select_moe(model: DecoderStack, requested: str, cuda_graphs: bool, gen) -> tuple[str, dict]:
    spec = model.spec
    if not spec.is_moe:
        return "none", {}
    li = next(i for i in range(model.n_layers) if spec.layer_is_moe(i)) if any(
        spec.layer_is_moe(i) for i in range(model.n_layers)) else None
    if li is None:
        return "none", {"note": "no MoE layer among the timed layers"}
    h = torch.randn(37, spec.hidden, device=model.device, generator=gen).to(torch.bfloat16)
    report = {}
    with torch.inference_mode():
        ref = model._moe(h, model.layers[li], impl="loop").float()
        report["loop"] = "ok (reference)"
        if requested in ("auto", "grouped_mm"):
            if not hasattr(torch, "_grouped_mm"):
                report["grouped_mm"] = "unavailable: torch._grouped_mm missing (needs a recent PyTorch)"
            else:
                try:
                    out = model._moe(h, model.layers[li], impl="grouped_mm").float()
                    err = ((out - ref).abs().max() / ref.abs().max().clamp_min(1e-6)).item()
                    if math.isfinite(err) and err < 2e-2:
                        report["grouped_mm"] = f"ok: max relative error {err:.3g} vs loop"
                        return "grouped_mm", report
                    report["grouped_mm"] = f"wrong result: max relative error {err:.3g} vs loop"
                except Exception as e:  # noqa: BLE001
                    report["grouped_mm"] = f"failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            if requested == "grouped_mm":
                raise HarnessError(f"--moe-impl grouped_mm unusable: {report['grouped_mm']}")
    if cuda_graphs:
        raise HarnessError("--cuda-graphs needs --moe-impl grouped_mm (the per-expert loop syncs with the host); "
                           f"grouped_mm: {report.get('grouped_mm', 'not tried')}")
    return "loop", report


# ---- timing ---------------------------------------------------------------------------------


def time_step(model: DecoderStack, st: StepTensors, x, reps: int, warmup: int, cuda_graphs: bool, lm_head: bool,
              graph_pool=None) -> list[tuple[float, float]]:
    """Return (layers_ms, head_ms) for each timed repetition."""
    dev = model.device

    def run_layers():
        return model.forward_layers(x, st)

    def run_head(y):
        return model.forward_head(y, st) if lm_head else None

    if dev.type != "cuda":
        for _ in range(warmup):
            run_head(run_layers())
        out = []
        for _ in range(reps):
            t0 = time.perf_counter()
            y = run_layers()
            t1 = time.perf_counter()
            run_head(y)
            t2 = time.perf_counter()
            out.append(((t1 - t0) * 1e3, (t2 - t1) * 1e3))
        return out

    if cuda_graphs:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                run_head(run_layers())
        torch.cuda.current_stream().wait_stream(side)
        # Each step gets its own memory pool (the head shares the layers' pool). A pool handle
        # shared across steps whose graphs are freed trips an allocator assertion in
        # PyTorch 2.11 (seen on an H200: CUDACachingAllocator use_count > 0 at capture_begin).
        g_layers = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g_layers, pool=graph_pool):
            y_static = run_layers()
        g_head = None
        if lm_head:
            g_head = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g_head, pool=g_layers.pool()):
                run_head(y_static)

        def run_layers():  # noqa: F811 - replay instead of eager
            g_layers.replay()
            return y_static

        def run_head(y):  # noqa: F811
            if g_head is not None:
                g_head.replay()

    for _ in range(warmup):
        run_head(run_layers())
    torch.cuda.synchronize()
    ev = [[torch.cuda.Event(enable_timing=True) for _ in range(3)] for _ in range(reps)]
    for e0, e1, e2 in ev:
        e0.record()
        y = run_layers()
        e1.record()
        run_head(y)
        e2.record()
        torch.cuda.synchronize()  # one step at a time, as the engine waits for sampled tokens
    return [(e0.elapsed_time(e1), e1.elapsed_time(e2)) for e0, e1, e2 in ev]


def nvidia_smi() -> dict | None:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    fields = "index,name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,power.limit,temperature.gpu,memory.total"
    try:
        r = subprocess.run([exe, f"--query-gpu={fields}", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as e:
        return {"error": str(e)}
    if r.returncode != 0:
        return {"error": (r.stderr or r.stdout).strip()[:500]}
    names = fields.split(",")
    gpus = [dict(zip(names, [c.strip() for c in line.split(",")])) for line in r.stdout.strip().splitlines() if line.strip()]
    return {"query_time": now_iso(), "gpus": gpus}


def run_timing(args: argparse.Namespace, spec: ModelSpec) -> int:
    _import_torch()
    t_start = time.monotonic()
    lm_head = not args.no_lm_head
    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise HarnessError("torch.cuda.is_available() is False: no GPU visible (use --dry-run to plan, --device cpu for a smoke test)")
        device = torch.device("cuda", torch.cuda.current_device())
        dev_name = torch.cuda.get_device_name(device)
        props = torch.cuda.get_device_properties(device)
        total_mem = props.total_memory
        gpu = slug(args.gpu_name) if args.gpu_name else gpu_slug_from_device_name(dev_name)
    else:
        if args.cuda_graphs:
            raise HarnessError("--cuda-graphs needs --device cuda")
        device = torch.device("cpu")
        dev_name, props, total_mem = platform.processor() or "cpu", None, None
        gpu = "cpu-smoke"
    smi_before = nvidia_smi() if args.device == "cuda" else None
    torch.manual_seed(args.seed)
    gen = torch.Generator(device=device)
    gen.manual_seed(args.seed + 1)

    layers = resolve_layers(spec, args.layers, total_mem if total_mem else 64 * GIB, lm_head)
    if args.device == "cuda":
        need = spec.layers_bytes(layers) + (spec.head_bytes() if lm_head else 0)
        free0 = torch.cuda.mem_get_info(device)[0]
        if need > 0.9 * free0:
            raise HarnessError(f"{layers} layers need {need / GIB:.1f} GiB of weights, {free0 / GIB:.1f} GiB free: "
                               "pass --layers K (or --layers auto) to time fewer layers and scale")

    with torch.inference_mode():
        model = DecoderStack(spec, layers, device, lm_head, args.seed, moe_impl="loop")
        attn_backend, attn_report = select_attention(spec, device, args.attn, gen)
        model.attn = Attention(attn_backend, spec.heads, spec.kv_heads, spec.head_dim)
        moe_impl, moe_report = select_moe(model, args.moe_impl, args.cuda_graphs, gen)
        model.moe_impl = moe_impl if moe_impl != "none" else "loop"

        # KV cap from what is free now (weights allocated), then the plan, then the pool
        if args.device == "cuda":
            torch.cuda.empty_cache()
            free = torch.cuda.mem_get_info(device)[0]
            kv_cap = kv_cap_from_memory(spec, layers, free, args, lm_head)
        else:
            kv_cap = None if args.max_kv_tokens is not None else 65536
        limits = make_limits(spec, args, kv_cap)
        comps = plan(args, limits)
        if not comps:
            raise HarnessError("the plan is empty (limits too tight?)")
        pool_rows = max(max(c.kv_tokens for c in comps), build_layout(SELF_CHECK_COMPOSITION).total_kv)
        model.allocate_kv(pool_rows)
        model.build_rope(max(max(c.max_seq_tokens for c in comps), 512) + 1)

        # whole-forward smoke check on the self-check composition (also warms up kernels)
        st = model.step_tensors(build_layout(SELF_CHECK_COMPOSITION))
        x = torch.randn(st.layout.total_q, spec.hidden, device=device, generator=gen).to(torch.bfloat16)
        y = model.forward_layers(x, st)
        if lm_head:
            model.forward_head(y, st)
        forward_finite = bool(torch.isfinite(y).all().item())

        model_slug = slug(args.model_name or spec.name)
        experiment = f"{gpu}-{model_slug}"
        steps_path = os.path.join(args.out_dir, f"{experiment}.steps.jsonl.gz")
        meta_path = os.path.join(args.out_dir, f"{experiment}.meta.json")
        meta = base_meta(args, spec, experiment, layers, lm_head, limits, comps)
        meta.update({
            "dry_run": False,
            "smoke_test": args.device != "cuda",
            "complete": False,
            "device": {
                "type": device.type,
                "name": dev_name,
                "capability": f"{props.major}.{props.minor}" if props else None,
                "multiprocessors": getattr(props, "multi_processor_count", None) if props else None,
                "total_memory_bytes": total_mem,
                "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            },
            "software": {
                "python": platform.python_version(),
                "torch": torch.__version__,
                "cuda": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
                "flash_attn": _module_version("flash_attn"),
                "platform": platform.platform(),
            },
            "nvidia_smi_before": smi_before,
            "implementation": {
                "attention": attn_backend,
                "attention_self_check": attn_report,
                "moe": moe_impl,
                "moe_self_check": moe_report,
                "cuda_graphs": bool(args.cuda_graphs),
                "kv_cache": "contiguous per request, packed back to back in one pool per layer (no paging)",
                "kv_pool_rows": pool_rows,
                "forward_finite": forward_finite,
                "timing": ("CUDA events around the layers and around the head, warmup then reps, "
                           "device synchronized after every repetition; inputs prepared outside the timed region")
                if device.type == "cuda" else "time.perf_counter (CPU smoke test, not a GPU measurement)",
            },
        })
        write_json_atomic(meta_path, meta)
        print(f"[harness] {experiment}: {len(comps)} steps, {layers}/{spec.layers} layers, attention={attn_backend}, "
              f"moe={moe_impl}, kv cap={limits.max_kv_tokens}, pool={pool_rows} rows", file=sys.stderr)

        graph_pool = None  # per-step pools: see time_step
        scale = spec.layers / layers
        order = execution_order(len(comps), args.seed, args.order)
        writer = R.RecordWriter(steps_path, require_duration=True)
        oom_error = getattr(torch.cuda, "OutOfMemoryError", None) if device.type == "cuda" else None
        done = 0
        skipped: list[dict] = []
        stopped = None
        failure = None
        try:
            for n_done, idx in enumerate(order):
                if args.max_minutes is not None and time.monotonic() - t_start > args.max_minutes * 60:
                    stopped = f"--max-minutes {args.max_minutes} reached"
                    break
                comp = comps[idx]
                try:
                    st = model.step_tensors(build_layout(comp))
                    x = torch.randn(st.layout.total_q, spec.hidden, device=device, generator=gen).to(torch.bfloat16)
                    times = time_step(model, st, x, args.reps, args.warmup, args.cuda_graphs, lm_head, graph_pool)
                except Exception as e:  # noqa: BLE001
                    if oom_error is None or not isinstance(e, oom_error):
                        raise
                    # one step too large for the memory left: note it and go on with the others
                    st = x = None
                    torch.cuda.synchronize()
                    torch.cuda.empty_cache()
                    skipped.append({"step": idx, "reason": "CUDA out of memory", "tokens": comp.num_tokens,
                                    "kv_tokens": comp.kv_tokens})
                    print(f"[{n_done + 1}/{len(comps)}] step {idx} skipped: CUDA out of memory", file=sys.stderr)
                    continue
                totals = sorted(a * scale + b for a, b in times)
                rec = composition_record(
                    experiment, idx, comp,
                    duration_us=percentile(totals, 0.5) * 1e3,
                    p10=percentile(totals, 0.1) * 1e3,
                    p90=percentile(totals, 0.9) * 1e3,
                    reps=len(totals),
                )
                writer.write(rec)
                done += 1
                if done % 10 == 0:
                    writer.flush()
                print(f"[{n_done + 1}/{len(comps)}] step {idx} {comp.kind} tokens={comp.num_tokens} "
                      f"seqs={comp.num_seqs} kv={comp.kv_tokens} median={rec['duration_us']:.1f}us", file=sys.stderr)
                del st, x
        except KeyboardInterrupt:
            stopped = "interrupted (KeyboardInterrupt)"
        except Exception as e:  # noqa: BLE001 - record the failure in the metadata, then re-raise
            stopped = f"error: {type(e).__name__}: {e}"
            failure = e
        finally:
            writer.close()  # keeps what was timed
            meta["complete"] = stopped is None and done == len(comps)
            meta["steps_timed"] = done
            meta["steps_skipped"] = skipped
            meta["stopped"] = stopped
            meta["elapsed_s"] = round(time.monotonic() - t_start, 1)
            meta["nvidia_smi_after"] = nvidia_smi() if args.device == "cuda" else None
            meta["date_finished"] = now_iso()
            write_json_atomic(meta_path, meta)
        if failure is not None:
            raise failure
    print(json.dumps({"steps": steps_path, "meta": meta_path, "steps_timed": done, "complete": meta["complete"]}))
    return 0 if meta["complete"] else 3


def _module_version(name: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(name.replace("_", "-"))
    except Exception:  # noqa: BLE001
        return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        spec = load_model_spec(args.config, args.allow_unknown_arch, args.ignore_quantization)
        if args.dry_run:
            return run_dry(args, spec)
        return run_timing(args, spec)
    except HarnessError as e:
        print(f"harness.py: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
