/** Whole schedule logs → trace lines, a trace file, or an experiment directory (through emit.ts's emitter). */
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../../io/errors.js';
import type { ScheduleLog } from '../../scheduler/schedule-log.js';
import { type EmitOptions, type EmitStats, OtlpTraceEmitter } from './emit.js';
import { expConfigYaml, TraceFileWriter } from './trace-writer.js';

/**
 * Feed a whole schedule log to an emitter: each request is added just before the first step
 * that mentions it (so memory follows the in-flight set), then the steps in order.
 */
export function emitLog(log: ScheduleLog, em: OtlpTraceEmitter): EmitStats {
  const byId = new Map(log.requests.map((r) => [r.id, r] as const));
  const added = new Set<string>();
  for (const s of log.steps) {
    for (const e of s.events) {
      if (!added.has(e.request)) {
        const r = byId.get(e.request);
        if (!r) throw new InputError(`emit: step ${s.step} event refers to unknown request '${e.request}'`);
        em.addRequest(r);
        added.add(e.request);
      }
    }
    em.addStep(s);
  }
  return em.end();
}

/** Emit a whole schedule log to an array of JSON lines (no newlines). */
export function emitTraceLines(log: ScheduleLog, opts: EmitOptions = {}): string[] {
  const lines: string[] = [];
  emitLog(log, new OtlpTraceEmitter(opts, (l) => lines.push(l)));
  return lines;
}

/** Write a schedule log as a trace file (atomic; gzip by `.gz` suffix or opts). */
export async function writeTrace(file: string, log: ScheduleLog, opts: EmitOptions & { gzip?: boolean } = {}): Promise<EmitStats> {
  const w = new TraceFileWriter(file, opts.gzip ?? file.endsWith('.gz'));
  try {
    const stats = emitLog(log, new OtlpTraceEmitter(opts, (l) => w.line(l)));
    await w.close();
    return stats;
  } catch (e) {
    w.abort();
    throw e;
  }
}

/** Write `<dir>/exp-config.yaml` and `<dir>/traces.json` (or `traces.json.gz` with gzip). Needs `log.config`. */
export async function writeExperimentDir(dir: string, log: ScheduleLog, opts: EmitOptions & { gzip?: boolean } = {}): Promise<EmitStats> {
  if (!log.config) throw new InputError('writeExperimentDir: the schedule log has no config (max_num_batched_tokens is required)');
  fs.mkdirSync(dir, { recursive: true });
  const stats = await writeTrace(path.join(dir, opts.gzip ? 'traces.json.gz' : 'traces.json'), log, opts);
  fs.writeFileSync(path.join(dir, 'exp-config.yaml'), expConfigYaml(log.config));
  fs.mkdirSync(path.join(dir, 'results'), { recursive: true });
  return stats;
}
