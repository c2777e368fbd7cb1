/**
 * vLLM OTLP trace emitter: schedule log (schedule.ts) → JSON Lines of OTLP/JSON export requests,
 * in the format `docs/vllm-otlp-trace.md` describes (scopes vllm.scheduler / vllm.api /
 * vllm.scheduler.step). Used by the round-trip tests and by the serving simulator.
 *
 * Two ways in:
 * - push (streaming, bounded memory — state only for in-flight requests and the shuffle window):
 *     const em = new OtlpTraceEmitter({ stepSampleRate: 0.1, seed: 7 }, (line) => out.push(line));
 *     em.addRequest(req);          // before its first event
 *     em.addStep(step);            // in increasing step order
 *     em.end();                    // flushes spans of unfinished requests and the shuffle buffer
 * - whole logs (trace-file.ts): `emitTraceLines(log, opts)`, `writeTrace(file, log, opts)`, `writeExperimentDir(dir, log, opts)`.
 *
 * Within one step the emitter applies, in order: QUEUED / SCHEDULED / PREEMPTED events, the
 * entries (which advance each request's output-token count), then FIRST_TOKEN / FINISHED events.
 * Derived attributes (decode.done_tokens, num_preemptions, finish.status) come from that tracking
 * when the event does not give them.
 */
import { makeRng, type Rng } from '../../util/rng.js';
import { InputError } from '../../io/errors.js';
import type { JourneyEvent, ScheduleRequest, ScheduleStep, StepEntry } from '../../scheduler/schedule-log.js';
import { entrySamplesToken } from '../../scheduler/schedule-log.js';
import { type Attr, apiRequestId, dbl, int, type OtlpEvent, type OtlpSpan, str } from './otlp-json.js';

export { apiRequestId } from './otlp-json.js';
export { expConfigYaml, TraceFileWriter } from './trace-writer.js';

export interface EmitOptions {
  /** Emit step.REQUEST_SNAPSHOT events on traced steps (default true). */
  snapshots?: boolean;
  /** Fraction of steps that get a vllm.scheduler.step span (default 1 = every step). */
  stepSampleRate?: number;
  /** Seed for sampling, span ids and shuffling (default 1). */
  seed?: number;
  /** Line order: false/0 = export order; true = fully shuffled (holds all lines); n > 1 = shuffled within a window of n lines. */
  shuffle?: boolean | number;
  /** Spans per export line (default 8). Lines mix scopes when several are pending. */
  spansPerLine?: number;
  /** Close a request's llm_core span at each PREEMPTED and open a new one at RESUME (default true). */
  splitAtPreemption?: boolean;
  /** Emit vllm.api llm_request spans (default true). */
  apiSpans?: boolean;
  /** Unix epoch ns of monotonic 0, for startTimeUnixNano/endTimeUnixNano (default 1.7e18). */
  unixEpochNs?: bigint;
}
interface ReqState {
  req: ScheduleRequest;
  traceId: string;
  outputs: number;
  preemptions: number;
  scheduledOnce: boolean;
  span: OtlpEvent[];
  spanStartNs: number;
  spanEndNs: number;
  finishedNs?: number;
}

export interface EmitStats {
  lines: number;
  spans: number;
  tracedSteps: number;
  steps: number;
  requests: number;
}

export class OtlpTraceEmitter {
  private readonly o: Required<Omit<EmitOptions, 'shuffle'>> & { window: number };
  private readonly rng: Rng;
  private readonly reqs = new Map<string, ReqState>();
  private pending: { core: OtlpSpan[]; api: OtlpSpan[]; step: OtlpSpan[] } = { core: [], api: [], step: [] };
  private nPending = 0;
  private readonly shuffleBuf: string[] = [];
  private lastStep = -Infinity;
  readonly stats: EmitStats = { lines: 0, spans: 0, tracedSteps: 0, steps: 0, requests: 0 };

  constructor(
    opts: EmitOptions,
    private readonly sink: (line: string) => void,
  ) {
    const sh = opts.shuffle ?? false;
    this.o = {
      snapshots: opts.snapshots ?? true,
      stepSampleRate: opts.stepSampleRate ?? 1,
      seed: opts.seed ?? 1,
      spansPerLine: Math.max(1, opts.spansPerLine ?? 8),
      splitAtPreemption: opts.splitAtPreemption ?? true,
      apiSpans: opts.apiSpans ?? true,
      unixEpochNs: opts.unixEpochNs ?? 1_700_000_000_000_000_000n,
      window: sh === true ? Infinity : sh === false ? 0 : sh > 1 ? sh : 0,
    };
    if (!(this.o.stepSampleRate >= 0 && this.o.stepSampleRate <= 1)) throw new InputError(`emit: stepSampleRate must be in [0, 1], got ${opts.stepSampleRate}`);
    this.rng = makeRng(this.o.seed);
  }

  private hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += ((this.rng.next() * 16) | 0).toString(16);
    return s;
  }
  private unix(ns: number): string {
    return (this.o.unixEpochNs + BigInt(Math.round(ns))).toString();
  }

  /** Register a request (before any event of it). */
  addRequest(r: ScheduleRequest): void {
    if (this.reqs.has(r.id)) throw new InputError(`emit: request '${r.id}' added twice`);
    this.reqs.set(r.id, {
      req: r,
      traceId: this.hex(32),
      outputs: 0,
      preemptions: 0,
      scheduledOnce: false,
      span: [],
      spanStartNs: Infinity,
      spanEndNs: -Infinity,
    });
    this.stats.requests++;
  }

  private state(id: string, step: number): ReqState {
    const st = this.reqs.get(id);
    if (!st) throw new InputError(`emit: step ${step} refers to request '${id}' that was not added (or already finished)`);
    return st;
  }

  private journey(ev: JourneyEvent, stepId: number): void {
    const st = this.state(ev.request, stepId);
    const step = ev.step ?? stepId;
    const attrs: Attr[] = [int('scheduler.step', step), dbl('ts.monotonic', ev.tsNs / 1e9), int('ts.monotonic_ns', ev.tsNs)];
    const r = st.req;
    switch (ev.kind) {
      case 'QUEUED':
        attrs.push(str('phase', 'WAITING'));
        break;
      case 'SCHEDULED': {
        const kind = ev.scheduleKind ?? (st.scheduledOnce ? 'RESUME' : 'FIRST');
        st.scheduledOnce = true;
        attrs.push(str('schedule.kind', kind), str('phase', 'PREFILL'), int('prefill.done_tokens', ev.prefillDoneTokens ?? 0), int('prefill.total_tokens', r.promptTokens));
        if (kind === 'RESUME') attrs.push(int('decode.done_tokens', ev.decodeDoneTokens ?? st.outputs));
        break;
      }
      case 'FIRST_TOKEN':
        attrs.push(int('prefill.done_tokens', r.promptTokens), int('decode.done_tokens', ev.decodeDoneTokens ?? st.outputs));
        break;
      case 'PREEMPTED':
        st.preemptions = ev.numPreemptions ?? st.preemptions + 1;
        attrs.push(int('num_preemptions', st.preemptions));
        break;
      case 'FINISHED': {
        const done = ev.decodeDoneTokens ?? st.outputs;
        attrs.push(str('finish.status', ev.finishStatus ?? (done >= r.maxTokens ? 'LENGTH' : 'STOPPED')), int('decode.done_tokens', done), int('decode.max_tokens', r.maxTokens));
        st.finishedNs = ev.tsNs;
        break;
      }
    }
    // A RESUME opens a new span when the previous one was closed at PREEMPTED.
    st.span.push({ timeUnixNano: this.unix(ev.tsNs), name: `journey.${ev.kind}`, attributes: attrs });
    st.spanStartNs = Math.min(st.spanStartNs, ev.tsNs);
    st.spanEndNs = Math.max(st.spanEndNs, ev.tsNs);
    if ((ev.kind === 'PREEMPTED' && this.o.splitAtPreemption) || ev.kind === 'FINISHED') this.closeCoreSpan(st);
    if (ev.kind === 'FINISHED') {
      this.emitApiSpan(st);
      this.reqs.delete(r.id);
    }
  }

  private closeCoreSpan(st: ReqState): void {
    if (st.span.length === 0) return;
    this.push('core', {
      traceId: st.traceId,
      spanId: this.hex(16),
      name: 'llm_core',
      kind: 1,
      startTimeUnixNano: this.unix(st.spanStartNs),
      endTimeUnixNano: this.unix(st.spanEndNs),
      attributes: [str('gen_ai.request.id', st.req.id)],
      events: st.span,
    });
    st.span = [];
    st.spanStartNs = Infinity;
    st.spanEndNs = -Infinity;
  }

  private emitApiSpan(st: ReqState): void {
    if (!this.o.apiSpans) return;
    const r = st.req;
    const endNs = r.departNs ?? st.finishedNs ?? r.arrivalNs;
    const ev = (name: string, ns: number): OtlpEvent => ({ timeUnixNano: this.unix(ns), name, attributes: [dbl('event.ts.monotonic', ns / 1e9)] });
    this.push('api', {
      traceId: st.traceId,
      spanId: this.hex(16),
      name: 'llm_request',
      kind: 2,
      startTimeUnixNano: this.unix(r.arrivalNs),
      endTimeUnixNano: this.unix(endNs),
      attributes: [str('gen_ai.request.id', apiRequestId(r.id))],
      events: [ev('api.ARRIVED', r.arrivalNs), ev(r.aborted ? 'api.ABORTED' : 'api.DEPARTED', endNs)],
    });
  }

  /** Add one step (strictly increasing step ids). */
  addStep(s: ScheduleStep): void {
    if (!(s.step > this.lastStep)) throw new InputError(`emit: step ids must increase (got ${s.step} after ${this.lastStep})`);
    this.lastStep = s.step;
    this.stats.steps++;
    const early: JourneyEvent[] = [];
    const late: JourneyEvent[] = [];
    for (const e of s.events) (e.kind === 'FIRST_TOKEN' || e.kind === 'FINISHED' ? late : early).push(e);
    for (const e of early) this.journey(e, s.step);
    // Snapshot attributes need the pre-step state; the step span is built before entries advance outputs.
    const traced = this.o.stepSampleRate >= 1 || this.rng.next() < this.o.stepSampleRate;
    let span: OtlpSpan | undefined;
    if (traced) span = this.stepSpan(s);
    for (const e of s.entries) {
      const st = this.state(e.request, s.step);
      if (entrySamplesToken(e, st.req.promptTokens)) st.outputs = e.outputBefore + 1;
    }
    for (const e of late) this.journey(e, s.step);
    if (span) {
      this.push('step', span);
      this.stats.tracedSteps++;
    }
  }

  private stepSpan(s: ScheduleStep): OtlpSpan {
    let nPf = 0,
      nDc = 0,
      pfTok = 0,
      dcTok = 0,
      fin = 0,
      pre = 0;
    for (const e of s.entries) {
      if (e.phase === 'PREFILL') {
        nPf++;
        pfTok += e.scheduled;
      } else {
        nDc++;
        dcTok += e.scheduled;
      }
    }
    for (const e of s.events) {
      if ((e.step ?? s.step) !== s.step) continue;
      if (e.kind === 'FINISHED') fin++;
      else if (e.kind === 'PREEMPTED') pre++;
    }
    const total = s.kvBlocksTotal ?? 0;
    const free = s.kvBlocksFree ?? 0;
    const durationUs = s.durationUs ?? (s.endNs - s.startNs) / 1000;
    const events: OtlpEvent[] = [
      {
        timeUnixNano: this.unix(s.endNs),
        name: 'step.BATCH_SUMMARY',
        attributes: [
          int('step.id', s.step),
          int('step.ts_start_ns', s.startNs),
          int('step.ts_end_ns', s.endNs),
          dbl('step.duration_us', durationUs),
          int('queue.running_depth', s.runningDepth ?? s.entries.length),
          int('queue.waiting_depth', s.waitingDepth ?? 0),
          int('batch.num_prefill_reqs', nPf),
          int('batch.num_decode_reqs', nDc),
          int('batch.scheduled_tokens', pfTok + dcTok),
          int('batch.prefill_tokens', pfTok),
          int('batch.decode_tokens', dcTok),
          int('batch.num_finished', fin),
          int('batch.num_preempted', pre),
          dbl('kv.usage_gpu_ratio', total > 0 ? 1 - free / total : 0),
          int('kv.blocks_total_gpu', total),
          int('kv.blocks_free_gpu', free),
        ],
      },
    ];
    if (this.o.snapshots) {
      for (const e of s.entries) events.push(this.snapshot(s, e));
    }
    return {
      traceId: this.hex(32),
      spanId: this.hex(16),
      name: 'scheduler_step',
      kind: 1,
      startTimeUnixNano: this.unix(s.startNs),
      endTimeUnixNano: this.unix(s.endNs),
      attributes: [int('step.id', s.step)],
      events,
    };
  }

  private snapshot(s: ScheduleStep, e: StepEntry): OtlpEvent {
    const st = this.state(e.request, s.step);
    return {
      timeUnixNano: this.unix(s.endNs),
      name: 'step.REQUEST_SNAPSHOT',
      attributes: [
        int('step.id', s.step),
        str('request.id', e.request),
        str('request.phase', e.phase),
        int('request.num_prompt_tokens', st.req.promptTokens),
        int('request.num_computed_tokens', e.computedBefore),
        int('request.num_output_tokens', e.outputBefore),
        int('request.num_preemptions', e.preemptions),
        int('request.scheduled_tokens_this_step', e.scheduled),
        int('kv.blocks_allocated_gpu', e.kvBlocks ?? 0),
        int('kv.blocks_cached_gpu', e.kvCachedBlocks ?? 0),
      ],
    };
  }

  private push(scope: 'core' | 'api' | 'step', span: OtlpSpan): void {
    this.pending[scope].push(span);
    this.stats.spans++;
    if (++this.nPending >= this.o.spansPerLine) this.flushLine();
  }

  private flushLine(): void {
    if (this.nPending === 0) return;
    const scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[] = [];
    if (this.pending.core.length) scopeSpans.push({ scope: { name: 'vllm.scheduler' }, spans: this.pending.core });
    if (this.pending.api.length) scopeSpans.push({ scope: { name: 'vllm.api' }, spans: this.pending.api });
    if (this.pending.step.length) scopeSpans.push({ scope: { name: 'vllm.scheduler.step' }, spans: this.pending.step });
    const line = JSON.stringify({
      resourceSpans: [{ resource: { attributes: [str('service.name', 'vllm')] }, scopeSpans }],
    });
    this.pending = { core: [], api: [], step: [] };
    this.nPending = 0;
    this.out(line);
  }

  private out(line: string): void {
    const w = this.o.window;
    if (w === 0) {
      this.stats.lines++;
      this.sink(line);
      return;
    }
    this.shuffleBuf.push(line);
    if (this.shuffleBuf.length >= w) {
      const i = Math.floor(this.rng.next() * this.shuffleBuf.length);
      const pick = this.shuffleBuf[i]!;
      this.shuffleBuf[i] = this.shuffleBuf[this.shuffleBuf.length - 1]!;
      this.shuffleBuf.pop();
      this.stats.lines++;
      this.sink(pick);
    }
  }

  /** Close spans of requests still in flight, flush pending spans and the shuffle buffer. */
  end(): EmitStats {
    for (const st of this.reqs.values()) this.closeCoreSpan(st);
    this.reqs.clear();
    this.flushLine();
    const b = this.shuffleBuf;
    for (let i = b.length - 1; i > 0; i--) {
      const j = Math.floor(this.rng.next() * (i + 1));
      const t = b[i]!;
      b[i] = b[j]!;
      b[j] = t;
    }
    for (const l of b) {
      this.stats.lines++;
      this.sink(l);
    }
    b.length = 0;
    return this.stats;
  }
}
