/**
 * `stepfit collect` receives spans from the official OpenTelemetry JS OTLP exporters (protobuf and
 * JSON over HTTP), writes JSON Lines that `reconstruct --format vllm-request-spans` reads, and a
 * SIGINT during a run loses no acknowledged span.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { startCollector } from '../src/collect/server.js';
import { readRequestSpans } from '../src/reconstruct/vllm-request-spans/read.js';
import { ATTR } from '../src/steps/otlp-attributes.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'stepfit-collect-'));

/** Emit n llm_request spans the way vLLM does (start at arrival, latency attributes in seconds). */
async function emitSpans(exporter: ProtoExporter | JsonExporter, n: number, from = 0): Promise<void> {
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter, { maxExportBatchSize: 16, scheduledDelayMillis: 10 })] });
  const tracer = provider.getTracer('vllm.llm_engine');
  const t0 = Date.now();
  for (let i = from; i < from + n; i++) {
    const arrival = t0 + i * 10;
    const span = tracer.startSpan('llm_request', { kind: 1, startTime: arrival });
    span.setAttributes({
      [ATTR.requestId]: `cmpl-${i}`,
      [ATTR.promptTokens]: 100 + i,
      [ATTR.completionTokens]: 20,
      [ATTR.timeInQueue]: 0.001,
      [ATTR.ttft]: 0.05,
      [ATTR.prefill]: 0.045,
      [ATTR.decode]: 0.2,
      [ATTR.e2e]: 0.25,
    });
    span.end(arrival + 250);
  }
  await provider.forceFlush();
  await provider.shutdown();
}

describe('stepfit collect', () => {
  it('receives spans from the official OTLP/HTTP protobuf and JSON exporters; the reader takes the files', async () => {
    const out = tmp();
    const c = await startCollector({ host: '127.0.0.1', port: 0, out, rotateBytes: 4096 });
    await emitSpans(new ProtoExporter({ url: `http://127.0.0.1:${c.port}/v1/traces` }), 60);
    await emitSpans(new JsonExporter({ url: `http://127.0.0.1:${c.port}/v1/traces` }), 40, 60);
    const s = await c.stop();
    expect(s.spans).toBe(100);
    expect(s.files.length).toBeGreaterThan(1); // rotated
    expect(fs.readdirSync(out).some((f) => f.endsWith('.part'))).toBe(false);
    const r = await readRequestSpans(out, false);
    expect(r.requests.map((q) => q.id).sort()).toEqual(Array.from({ length: 100 }, (_, i) => `cmpl-${i}`).sort());
    const q = r.requests.find((x) => x.id === 'cmpl-7')!;
    expect(q.prompt).toBe(107);
    expect(q.firstToken - q.scheduled).toBeCloseTo(0.045, 9);
    expect(q.lastToken - q.firstToken).toBeCloseTo(0.2, 9);
  });

  it('a SIGINT during the run loses no acknowledged span', async () => {
    const out = tmp();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '-e', `import('./src/cli/main.js').then(async (m) => { process.exitCode = await m.main(['collect', '--listen', '127.0.0.1:0', '--out', ${JSON.stringify(out)}]); })`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let err = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /listening on http:\/\/[^:]+:(\d+)/.exec(err);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', () => reject(new Error(`collect exited early: ${err}`)));
    });
    const exporter = new ProtoExporter({ url: `http://127.0.0.1:${port}/v1/traces` });
    const provider = new BasicTracerProvider();
    const tracer = provider.getTracer('vllm');
    let acked = 0;
    let sent = 0;
    const exitP = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    // export batches one after another; interrupt the collector while batches are still being sent
    for (let b = 0; b < 40; b++) {
      const spans: ReadableSpan[] = [];
      for (let i = 0; i < 10; i++) {
        const s = tracer.startSpan('llm_request', { startTime: Date.now() });
        s.setAttributes({
          [ATTR.requestId]: `q-${b}-${i}`,
          [ATTR.promptTokens]: 10,
          [ATTR.completionTokens]: 2,
          [ATTR.timeInQueue]: 0,
          [ATTR.ttft]: 0.01,
          [ATTR.prefill]: 0.01,
          [ATTR.decode]: 0.01,
          [ATTR.e2e]: 0.02,
        });
        s.end();
        spans.push(s as unknown as ReadableSpan);
      }
      sent += spans.length;
      if (b === 20) child.kill('SIGINT');
      const ok = await new Promise<boolean>((r) => exporter.export(spans, (res) => r(res.code === 0)));
      if (ok) acked += spans.length;
    }
    expect(await exitP, err).toBe(0);
    const files = fs.readdirSync(out);
    expect(files.some((f) => f.endsWith('.part'))).toBe(false);
    const r = await readRequestSpans(out, false);
    console.log(`collect SIGINT: ${sent} spans sent, ${acked} acknowledged, ${r.requests.length} on disk`);
    expect(acked).toBeGreaterThan(0);
    expect(r.requests.length).toBeGreaterThanOrEqual(acked);
  }, 30_000);
});
