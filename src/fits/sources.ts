/**
 * The real data sets the published fits are built from, and where each is read. ONE place names the
 * data roots: `FITS_DATA_ROOTS` (repoint it, or set STEPFIT_FITS_DATA, when the upstream subsets are
 * vendored under data/). A source whose data is absent is skipped by `fits rebuild` (reported as skipped).
 */
import path from 'node:path';
import { PACKAGE_ROOT } from '../io/paths.js';
import { splitwiseSuite } from '../validate/suites.js';
import { llmservingsimSuite } from '../validate/llmservingsim.js';
import { measuredSuite, MEASURED_DIR } from '../validate/measured.js';
import { SPLITWISE_CSV } from '../validate/splitwise.js';
import { LLMSERVINGSIM_BASE, LLMSERVINGSIM_RUNS } from '../validate/llmservingsim.js';
import type { Suite } from '../validate/suite.js';

/**
 * Data root of the upstream (non-bundled) sources: the shared data checkout (layout
 * `<owner>__<repo>/<path>`, ../shared/data/README.md). STEPFIT_FITS_DATA overrides it.
 */
export const FITS_DATA_ROOTS = Object.freeze({
  upstream: process.env['STEPFIT_FITS_DATA'] ?? path.join(PACKAGE_ROOT, 'data', 'vendor'),
});

export interface FitSource {
  /** Short name used in fit ids. */
  readonly name: string;
  readonly suite: Suite;
  readonly description: string;
  /** Upstream repository, commit and license (../shared/data/README.md), or this repository's folder. */
  readonly origin: string;
  readonly license: string;
  /** Files hashed into each fit's provenance, relative to the root. */
  readonly files: readonly string[];
  /** Root the files are read from ('bundled' = this package). */
  root(): string;
  /** Row grouping of the held-out (grouped CV) error: what one CV fold leaves out. */
  readonly cvGroup: 'batch' | 'arrival';
}

export const FIT_SOURCES: readonly FitSource[] = Object.freeze([
  {
    name: 'splitwise',
    suite: splitwiseSuite,
    description: 'Splitwise profiling sweep (real DGX-A100/DGX-H100): pure prefill and decode batches',
    origin: 'github.com/Mutinifni/splitwise-sim @ 8f99e7dc9b407f4ce2488d03dd44c0b8b946dab0',
    license: 'MIT',
    files: [SPLITWISE_CSV],
    root: () => FITS_DATA_ROOTS.upstream,
    cvGroup: 'batch',
  },
  {
    name: 'llmservingsim',
    suite: llmservingsimSuite,
    description: 'LLMServingSim real vLLM 0.19 runs: request-level prefill/decode times over implied steps',
    origin: 'github.com/casys-kaist/LLMServingSim @ 5daddb21a545658d5150b535712d0494584b5278',
    license: 'MIT',
    files: LLMSERVINGSIM_RUNS.flatMap((r) => [`${LLMSERVINGSIM_BASE}/${r.dir}/vllm/requests.jsonl`, `${LLMSERVINGSIM_BASE}/${r.dir}/vllm/meta.json`]),
    root: () => FITS_DATA_ROOTS.upstream,
    cvGroup: 'arrival',
  },
  {
    name: 'measured',
    suite: measuredSuite,
    description: 'real H200 step timings (tools/gpu-steps, data/measured): mixed chunked-prefill/decode steps',
    origin: 'this repository, data/measured (tools/gpu-steps/harness.py)',
    license: 'MIT (this package)',
    files: [],
    root: () => MEASURED_DIR,
    cvGroup: 'batch',
  },
]);
