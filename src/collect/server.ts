/**
 * `stepfit collect`: an OTLP/HTTP trace receiver (POST /v1/traces, protobuf or JSON, optionally
 * gzip) that writes what the `vllm-request-spans` reader takes: OTLP JSON Lines, one
 * ExportTraceServiceRequest per line, as an OpenTelemetry Collector `file` exporter writes them.
 * Protobuf is decoded with the OpenTelemetry JS project's generated protobufjs code for the OTLP
 * protos (@opentelemetry/otlp-transformer 0.57, build/src/generated/root.js), not by hand.
 *
 * Durability: a request is answered 200 only after its line is written to the current file (a
 * write(2) on the file descriptor), so every span an exporter saw acknowledged is in a file.
 * Files: `<out>/spans-<start time>-<n>.jsonl.part` while open, renamed to `.jsonl` (fsynced) when
 * they reach the rotation size and on stop. `stop()` (the CLI calls it on SIGINT / SIGTERM) stops
 * accepting, waits for requests in flight, then closes and renames the current file.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';

const require = createRequire(import.meta.url);
interface PbType {
  decode(b: Uint8Array): unknown;
  toObject(m: unknown, o: Record<string, unknown>): Record<string, unknown>;
}
let REQ: PbType | undefined;
/** The OTLP ExportTraceServiceRequest message type (generated protobufjs code of the OpenTelemetry JS project). */
function requestType(): PbType {
  if (!REQ) {
    const root = require('@opentelemetry/otlp-transformer/build/src/generated/root.js') as { opentelemetry: { proto: { collector: { trace: { v1: { ExportTraceServiceRequest: PbType } } } } } };
    REQ = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
  }
  return REQ;
}

const hex = (b: unknown): unknown => (b instanceof Uint8Array ? Buffer.from(b).toString('hex') : b);

/** Decode an OTLP protobuf body to the OTLP JSON mapping (ids as hex, 64-bit integers as strings, enums as numbers). */
export function decodeTraceRequest(body: Uint8Array): Record<string, unknown> {
  const T = requestType();
  const obj = T.toObject(T.decode(body), { longs: String, enums: Number, bytes: Array, defaults: false, arrays: false });
  for (const rs of (obj['resourceSpans'] as { scopeSpans?: { spans?: Record<string, unknown>[] }[] }[] | undefined) ?? []) {
    for (const ss of rs.scopeSpans ?? []) {
      for (const sp of ss.spans ?? []) {
        for (const k of ['traceId', 'spanId', 'parentSpanId']) if (sp[k] !== undefined) sp[k] = hex(Uint8Array.from(sp[k] as number[]));
        for (const l of (sp['links'] as Record<string, unknown>[] | undefined) ?? []) for (const k of ['traceId', 'spanId']) if (l[k] !== undefined) l[k] = hex(Uint8Array.from(l[k] as number[]));
      }
    }
  }
  return obj;
}

export interface CollectorOptions {
  host: string;
  port: number;
  out: string;
  /** Rotate the output file when it reaches this many bytes (default 64 MiB). */
  rotateBytes?: number;
  /** Called for each accepted request (spans in it). */
  onBatch?: (spans: number) => void;
}

export interface CollectorStats {
  requests: number;
  spans: number;
  files: string[];
  rejected: number;
}

export interface Collector {
  readonly port: number;
  readonly stats: CollectorStats;
  stop(): Promise<CollectorStats>;
}

const countSpans = (o: Record<string, unknown>): number => {
  let n = 0;
  for (const rs of (o['resourceSpans'] as { scopeSpans?: { spans?: unknown[] }[] }[] | undefined) ?? []) for (const ss of rs.scopeSpans ?? []) n += ss.spans?.length ?? 0;
  return n;
};

/** Rotating JSONL span files: `spans-<stamp>-<seq>.jsonl.part`, renamed without `.part` once complete (fsynced). */
function spanFiles(out: string, rotate: number, stats: CollectorStats): { writeLine: (line: string) => void; closeFile: () => void } {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  let fd: number | undefined;
  let part = '';
  let bytes = 0;
  let seq = 0;
  const closeFile = (): void => {
    if (fd === undefined) return;
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    const final = part.replace(/\.part$/, '');
    fs.renameSync(part, final);
    stats.files.push(final);
  };
  const writeLine = (line: string): void => {
    if (fd !== undefined && bytes >= rotate) closeFile();
    if (fd === undefined) {
      part = path.join(out, `spans-${stamp}-${String(++seq).padStart(4, '0')}.jsonl.part`);
      fd = fs.openSync(part, 'wx');
      bytes = 0;
    }
    const b = Buffer.from(line + '\n', 'utf8');
    let off = 0;
    while (off < b.length) off += fs.writeSync(fd, b, off);
    bytes += b.length;
  };
  return { writeLine, closeFile };
}

/** An OTLP/HTTP trace request body (gzip or not, JSON or protobuf) as an object with `resourceSpans`. */
function decodeBody(req: http.IncomingMessage, raw: Buffer): { obj: Record<string, unknown>; json: boolean } {
  let body = raw;
  if ((req.headers['content-encoding'] ?? '').includes('gzip')) body = zlib.gunzipSync(body);
  const json = String(req.headers['content-type'] ?? '').includes('json');
  if (!json) return { obj: decodeTraceRequest(body), json };
  const obj = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  if (!Array.isArray(obj['resourceSpans'])) throw new Error("field 'resourceSpans': expected an array");
  return { obj, json };
}

export async function startCollector(o: CollectorOptions): Promise<Collector> {
  fs.mkdirSync(o.out, { recursive: true });
  const stats: CollectorStats = { requests: 0, spans: 0, files: [], rejected: 0 };
  const { writeLine, closeFile } = spanFiles(o.out, o.rotateBytes ?? 64 * 1024 * 1024, stats);
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const server = http.createServer((req, res) => {
    const reply = (code: number, type: string, body: string | Uint8Array) => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'POST' || !(req.url ?? '').startsWith('/v1/traces')) {
      stats.rejected++;
      reply(404, 'text/plain', 'stepfit collect accepts OTLP/HTTP traces: POST /v1/traces\n');
      return;
    }
    inFlight++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const { obj, json } = decodeBody(req, Buffer.concat(chunks));
        const n = countSpans(obj);
        if (n > 0) writeLine(JSON.stringify({ resourceSpans: obj['resourceSpans'] }));
        stats.requests++;
        stats.spans += n;
        o.onBatch?.(n);
        reply(200, json ? 'application/json' : 'application/x-protobuf', json ? '{}' : new Uint8Array(0));
      } catch (e) {
        stats.rejected++;
        reply(400, 'text/plain', `bad OTLP trace request: ${(e as Error).message}\n`);
      } finally {
        if (--inFlight === 0 && drained) drained();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  let stopping: Promise<CollectorStats> | undefined;
  const stop = async (): Promise<CollectorStats> => {
    const closed = new Promise<void>((r) => server.close(() => r()));
    server.closeIdleConnections();
    if (inFlight > 0)
      await new Promise<void>((r) => {
        drained = r;
      });
    closeFile();
    server.closeAllConnections();
    await closed;
    return stats;
  };
  return {
    port: (server.address() as AddressInfo).port,
    stats,
    stop() {
      stopping ??= stop();
      return stopping;
    },
  };
}

/** Parse `--listen`: `:4318`, `4318`, `host:port`. */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:(.*):)?(\d+)$/.exec(s.trim());
  if (!m) throw new Error(`--listen expects [host]:port, e.g. :4318 or 127.0.0.1:4318, got '${s}'`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`--listen: port ${port} is out of range`);
  return { host: m[1] && m[1] !== '' ? m[1].replace(/^\[|\]$/g, '') : '0.0.0.0', port };
}
