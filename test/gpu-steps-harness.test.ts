// The GPU step-timing harness (tools/gpu-steps, Python) has no GPU or torch to use here: these
// tests run its standard-library unit tests and its torch-free --dry-run planner.
import { test, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const testDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(testDir, '..');
// the bundled HF config (the one data/measured was timed with)
const llamaConfig = path.resolve(testDir, '../configs/models/llama-3.1-8b.json');
// no __pycache__ folders left in the working tree
const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };

const probe = spawnSync('python3', ['--version'], { encoding: 'utf8' });
const hasPython = !probe.error && probe.status === 0;
if (!hasPython) {
  console.warn('gpu-steps harness tests skipped: python3 is not on PATH');
}
const hasConfig = existsSync(llamaConfig);
const skipDryRun = !hasPython || (!hasConfig && !process.env.CI);
if (hasPython && !hasConfig) {
  console.warn(process.env.CI ? `gpu-steps dry-run test will fail: model config missing at ${llamaConfig}` : `gpu-steps dry-run test skipped: model config missing at ${llamaConfig}`);
}

interface Chunk {
  tokens: number;
  prior: number;
  prompt?: number;
}
interface StepRecord {
  experiment: string;
  step: number;
  prefill: Chunk[];
  decode: number[];
  duration_us?: number;
}

test.skipIf(!hasPython)(
  'python unit tests of tools/gpu-steps pass',
  () => {
    const r = spawnSync('python3', ['-m', 'unittest', 'discover', '-s', 'tools/gpu-steps', '-p', 'test_*.py'], { cwd: repoRoot, encoding: 'utf8', env, timeout: 600_000 });
    expect(r.error).toBeUndefined();
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stderr).toMatch(/^OK/m);
  },
  620_000,
);

test.skipIf(skipDryRun)(
  'harness.py --dry-run plans compositions for a llama config without timing',
  () => {
    expect(existsSync(llamaConfig), `model config missing: ${llamaConfig}`).toBe(true);
    const out = mkdtempSync(path.join(tmpdir(), 'gpu-steps-'));
    try {
      const r = spawnSync('python3', ['tools/gpu-steps/harness.py', '--dry-run', '--config', llamaConfig, '--gpu-name', 'h100', '--out-dir', out, '--seed', '1', '--n-mixed', '60'], {
        cwd: repoRoot,
        encoding: 'utf8',
        env,
        timeout: 300_000,
      });
      expect(r.error).toBeUndefined();
      expect(r.status, r.stderr).toBe(0);
      const summary = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}');
      expect(summary.by_kind.mixed).toBe(60);

      const experiment = 'h100-llama-3.1-8b';
      const plan = path.join(out, `${experiment}.plan.jsonl`);
      const recs: StepRecord[] = readFileSync(plan, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(recs.length).toBe(summary.steps);
      expect(recs.map((x) => x.step)).toEqual(recs.map((_, i) => i));
      for (const rec of recs) {
        expect(rec.experiment).toBe(experiment);
        expect(rec.duration_us).toBeUndefined(); // a plan, never a timing
        const tokens = rec.prefill.reduce((s, c) => s + c.tokens, 0) + rec.decode.length;
        expect(tokens).toBeGreaterThan(0);
        expect(tokens).toBeLessThanOrEqual(8192);
        expect(rec.prefill.length + rec.decode.length).toBeLessThanOrEqual(512);
        for (const c of rec.prefill) {
          expect(Number.isInteger(c.tokens) && c.tokens >= 1).toBe(true);
          expect(Number.isInteger(c.prior) && c.prior >= 0).toBe(true);
          if (c.prompt !== undefined) expect(c.prompt).toBeGreaterThanOrEqual(c.prior + c.tokens);
        }
        for (const ctx of rec.decode) expect(Number.isInteger(ctx) && ctx >= 1).toBe(true);
      }
      const mixed = recs.filter((x) => x.prefill.length > 0 && x.decode.length > 0);
      expect(mixed.length).toBe(60);
      expect(mixed.some((x) => x.prefill.some((c) => c.prior > 0))).toBe(true);
      expect(recs.some((x) => x.decode.length === 0 && x.prefill.length > 0)).toBe(true); // pure prefill
      expect(recs.some((x) => x.prefill.length === 0 && x.decode.length === 512)).toBe(true); // pure decode

      const meta = JSON.parse(readFileSync(path.join(out, `${experiment}.plan.meta.json`), 'utf8'));
      expect(meta.dry_run).toBe(true);
      expect(meta.experiment).toBe(experiment);
      expect(meta.layers.total).toBe(32);
      expect(meta.engine_limits.max_num_batched_tokens).toBe(8192);
      expect(meta.compositions.step_kinds.length).toBe(recs.length);
      expect(existsSync(path.join(out, `${experiment}.steps.jsonl.gz`))).toBe(false);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  },
  320_000,
);
