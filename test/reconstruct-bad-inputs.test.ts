/** Bad inputs: one clear file:line message, exit 1 and no output — or, with --skip-bad, the rest processed. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { generateScheduleLog } from '../src/reconstruct/vllm-otlp/generate.js';
import { emitTraceLines } from '../src/reconstruct/vllm-otlp/trace-file.js';
import { runCli } from './support/cli.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-bad-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const log = generateScheduleLog({ seed: 21, requests: 30, maxNumBatchedTokens: 256, maxNumSeqs: 16, numGpuBlocks: 400, meanInterArrivalMs: 20, maxPrompt: 700, maxOutput: 60 });
/** One span per line, export order: easy to find and edit one event. */
const clean = emitTraceLines(log, { spansPerLine: 1, stepSampleRate: 0.5, snapshots: false, seed: 3 });

type Otlp = {
  resourceSpans: {
    scopeSpans: {
      scope: { name: string };
      spans: { attributes: { key: string; value: Record<string, unknown> }[]; events: { name: string; attributes: { key: string; value: Record<string, unknown> }[] }[] }[];
    }[];
  }[];
};
const spanOf = (line: string) => (JSON.parse(line) as Otlp).resourceSpans[0]!.scopeSpans[0]!;

/** Index (0-based) of the first llm_core line holding the given journey event; and the edited copy. */
function editEvent(
  eventName: string,
  edit: (ev: { name: string; attributes: { key: string; value: Record<string, unknown> }[] }, all: { name: string; attributes: { key: string; value: Record<string, unknown> }[] }[]) => boolean,
): { lines: string[]; lineNo: number } {
  for (let i = 0; i < clean.length; i++) {
    const o = JSON.parse(clean[i]!) as Otlp;
    const ss = o.resourceSpans[0]!.scopeSpans[0]!;
    if (ss.scope.name !== 'vllm.scheduler') continue;
    const evs = ss.spans[0]!.events;
    const ev = evs.find((e) => e.name === eventName);
    if (!ev || !edit(ev, evs)) continue;
    const lines = [...clean];
    lines[i] = JSON.stringify(o);
    return { lines, lineNo: i + 1 };
  }
  throw new Error(`no ${eventName} event to edit`);
}

const int = (ev: { attributes: { key: string; value: Record<string, unknown> }[] }, key: string): number => Number(ev.attributes.find((a) => a.key === key)!.value['intValue']);
const setInt = (ev: { attributes: { key: string; value: Record<string, unknown> }[] }, key: string, v: number): void => {
  ev.attributes.find((a) => a.key === key)!.value = { intValue: String(v) };
};

function write(name: string, lines: string[]): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, lines.join('\n') + '\n');
  return f;
}

async function expectFailure(input: string, pattern: RegExp, extra: string[] = []): Promise<void> {
  const out = path.join(dir, `out-${path.basename(input)}.jsonl`);
  const r = await runCli(['reconstruct', '--format', 'vllm-otlp', '--in', input, '--max-num-batched-tokens', '256', '--out', out, ...extra]);
  expect(r.code).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(lines[0]).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  expect(fs.existsSync(out)).toBe(false);
  expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  const skip = await runCli(['reconstruct', '--format', 'vllm-otlp', '--in', input, '--max-num-batched-tokens', '256', '--out', out, '--skip-bad', '--json', ...extra]);
  expect(skip.code).toBe(0);
  const sum = JSON.parse(skip.stdout) as { bad: { count: number; examples: string[] }; steps: number };
  expect(sum.bad.count).toBeGreaterThanOrEqual(1);
  expect(sum.bad.examples[0]).toMatch(pattern);
  expect(sum.steps).toBeGreaterThan(0);
  expect(fs.existsSync(out)).toBe(true);
}

describe('vllm-otlp bad inputs', () => {
  it('the clean trace reconstructs', async () => {
    const f = write('clean.jsonl', clean);
    const r = await runCli(['reconstruct', '--format', 'vllm-otlp', '--in', f, '--max-num-batched-tokens', '256', '--out', path.join(dir, 'clean-out.jsonl'), '--json']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { bad: { count: number } }).bad.count).toBe(0);
  });

  it('a truncated gzip file', async () => {
    const gz = zlib.gzipSync(Buffer.from(clean.join('\n') + '\n'));
    const f = path.join(dir, 'trunc.jsonl.gz');
    fs.writeFileSync(f, gz.subarray(0, Math.floor(gz.length * 0.6)));
    await expectFailure(f, /trunc\.jsonl\.gz:\d+: corrupt or truncated gzip data/);
  });

  it('a line that is not JSON', async () => {
    const lines = [...clean];
    lines.splice(4, 0, '{"resourceSpans": [ this is not json');
    await expectFailure(write('notjson.jsonl', lines), /notjson\.jsonl:5: not valid JSON/);
  });

  it('an event without scheduler.step', async () => {
    const { lines, lineNo } = editEvent('journey.SCHEDULED', (ev) => {
      ev.attributes = ev.attributes.filter((a) => a.key !== 'scheduler.step');
      return true;
    });
    await expectFailure(
      write('nostep.jsonl', lines),
      new RegExp(`nostep\\.jsonl:${lineNo}: request \\S+: event journey\\.SCHEDULED: attribute 'scheduler\\.step': expected a non-negative integer, got nothing`),
    );
  });

  it('a request with FIRST_TOKEN before SCHEDULED', async () => {
    const { lines, lineNo } = editEvent('journey.FIRST_TOKEN', (ev, all) => {
      const sched = all.find((e) => e.name === 'journey.SCHEDULED')!;
      const s = int(sched, 'scheduler.step');
      if (s < 2) return false;
      setInt(ev, 'scheduler.step', s - 1);
      return true;
    });
    await expectFailure(write('early-ft.jsonl', lines), new RegExp(`early-ft\\.jsonl:${lineNo}: request \\S+: journey\\.FIRST_TOKEN at step \\d+ before any journey\\.SCHEDULED`));
  });

  it('timestamps going backwards', async () => {
    const { lines, lineNo } = editEvent('journey.FINISHED', (ev, all) => {
      const ft = all.find((e) => e.name === 'journey.FIRST_TOKEN');
      if (!ft || int(ft, 'scheduler.step') === int(ev, 'scheduler.step')) return false;
      const back = int(ft, 'ts.monotonic_ns') - 5_000_000;
      setInt(ev, 'ts.monotonic_ns', back);
      ev.attributes.find((a) => a.key === 'ts.monotonic')!.value = { doubleValue: back / 1e9 };
      return true;
    });
    await expectFailure(write('backwards.jsonl', lines), new RegExp(`backwards\\.jsonl:${lineNo}: request \\S+: journey\\.FINISHED at step \\d+: timestamps going backwards`));
  });

  it('step summaries whose start times go backwards', async () => {
    let done = false;
    const lines = clean.map((l) => {
      const ss = spanOf(l);
      if (done || ss.scope.name !== 'vllm.scheduler.step') return l;
      const o = JSON.parse(l) as Otlp;
      const ev = o.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.events[0]!;
      if (int(ev, 'step.id') < 10) return l;
      setInt(ev, 'step.ts_start_ns', 1);
      setInt(ev, 'step.ts_end_ns', 2);
      done = true;
      return JSON.stringify(o);
    });
    await expectFailure(write('step-back.jsonl', lines), /step-back\.jsonl:\d+: step \d+: step\.ts_start_ns 1 is before that of step \d+ .*timestamps going backwards/);
  });

  it('a missing budget and a missing input are one-line errors', async () => {
    const f = write('nobudget.jsonl', clean);
    const r = await runCli(['reconstruct', '--format', 'vllm-otlp', '--in', f, '--out', path.join(dir, 'x.jsonl')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/max_num_batched_tokens unknown/);
    const m = await runCli(['reconstruct', '--format', 'vllm-otlp', '--in', path.join(dir, 'nope'), '--out', path.join(dir, 'x.jsonl')]);
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(/not found/);
    const u = await runCli(['reconstruct', '--format', 'request-log', '--in', f, '--out', path.join(dir, 'x.jsonl'), '--labels', 'l.jsonl']);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/--labels does not apply to --format request-log/);
  });
});

describe('request-log bad inputs', () => {
  const good = [
    { request_id: 'a', input_toks: 100, output_toks: 5, arrival_time: 1, queued_ts: 10.0, scheduled_ts: 10.001, first_token_ts: 10.05, last_token_ts: 10.15 },
    { request_id: 'b', input_toks: 300, output_toks: 3, arrival_time: 1, queued_ts: 10.01, scheduled_ts: 10.06, first_token_ts: 10.12, last_token_ts: 10.2 },
    { request_id: 'c', input_toks: 50, output_toks: 8, arrival_time: 1, queued_ts: 10.02, scheduled_ts: 10.07, first_token_ts: 10.12, last_token_ts: 10.3 },
  ].map((r) => JSON.stringify(r));

  async function fails(name: string, lines: string[], pattern: RegExp): Promise<void> {
    const f = write(name, lines);
    const out = path.join(dir, `${name}.steps.jsonl`);
    const r = await runCli(['reconstruct', '--format', 'request-log', '--in', f, '--max-num-batched-tokens', '256', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(pattern);
    expect(fs.existsSync(out)).toBe(false);
    const s = await runCli(['reconstruct', '--format', 'request-log', '--in', f, '--max-num-batched-tokens', '256', '--out', out, '--skip-bad', '--json']);
    expect(s.code).toBe(0);
    const sum = JSON.parse(s.stdout) as { bad: { count: number }; requests: number };
    expect(sum.bad.count).toBe(1);
    expect(sum.requests).toBe(3);
    expect(fs.existsSync(out)).toBe(true);
  }

  it('a line that is not JSON', () => fails('rl-notjson.jsonl', [good[0]!, 'nope', good[1]!, good[2]!], /rl-notjson\.jsonl:2: not valid JSON/));
  it('a missing field', () =>
    fails(
      'rl-missing.jsonl',
      [good[0]!, good[1]!, JSON.stringify({ request_id: 'x', input_toks: 5, output_toks: 2 }), good[2]!],
      /rl-missing\.jsonl:3: request x: field 'queued_ts': expected a number/,
    ));
  it('first token before scheduled (timestamps going backwards)', () =>
    fails(
      'rl-back.jsonl',
      [good[0]!, good[1]!, good[2]!, JSON.stringify({ request_id: 'y', input_toks: 5, output_toks: 2, queued_ts: 11, scheduled_ts: 11.5, first_token_ts: 11.2, last_token_ts: 11.6 })],
      /rl-back\.jsonl:4: request y: field 'first_token_ts' \(11\.2\) is before 'scheduled_ts' \(11\.5\): timestamps going backwards/,
    ));
});

describe('sweep bad inputs', () => {
  it('a non-numeric time names the file, line and column', async () => {
    const f = write('sweep-bad.csv', [
      'model,hardware,prompt_size,batch_size,token_size,prompt_time,token_time,tensor_parallel',
      'llama2-70b,h100-80gb,512,4,128,100.5,30.1,4',
      'llama2-70b,h100-80gb,512,4,128,abc,30.1,4',
    ]);
    const r = await runCli(['reconstruct', '--format', 'sweep', '--in', f, '--out-dir', path.join(dir, 'sw-bad')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/sweep-bad\.csv:3: field 'prompt_time' \(prefill_time\): expected a number ≥ 0, got 'abc'/);
    expect(fs.existsSync(path.join(dir, 'sw-bad'))).toBe(false);
    const s = await runCli(['reconstruct', '--format', 'sweep', '--in', f, '--out-dir', path.join(dir, 'sw-bad'), '--skip-bad', '--json']);
    expect(s.code).toBe(0);
    expect((JSON.parse(s.stdout) as { steps: number }).steps).toBe(2);
  });
});
