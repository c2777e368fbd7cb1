/**
 * Pass 2 of the vLLM OTLP reader: replay the records of each step, in step order, through a model
 * of the chunked-prefill scheduler and emit canonical steps and per-request results.
 * State: the in-flight requests only (a request is forgotten at its FINISHED event).
 *
 * Per step s (records sorted by recPhase then time):
 * 1. QUEUED / SCHEDULED / PREEMPTED update the running set (running order = latest admission).
 * 2. Composition inferred by the rule: every running request whose (re)compute is done decodes one
 *    token (context = tokens in KV); the remaining `max_num_batched_tokens` go to prefilling
 *    requests in running order, each min(remaining, budget left).
 * 3. If REQUEST_SNAPSHOTs exist, the composition is taken from them (exact) and compared with the
 *    inference; otherwise a BATCH_SUMMARY checks the inferred counts (and pins the prefill token
 *    total: a differing total is redistributed over the chunks, from the last one back).
 * 4. FIRST_TOKEN must fall on the step where the (first) prefill completes; a disagreement is a
 *    mismatch (the chunk is corrected to complete, or the request is marked uncertain until its
 *    FIRST_TOKEN). FINISHED removes the request after the step.
 * Steps whose composition could not be pinned (uncertain) are dropped unless `keepUncertain`.
 */
import { InputError } from '../../io/errors.js';
import type { Step, PrefillChunk } from '../../steps/step.js';
import type { JourneyRec, SnapshotRec, StepRec, SummaryRec } from './records.js';
import { canonicalEntry } from '../../scheduler/schedule-log.js';
import { MAX_EXAMPLES, newStats, type Pending, type ReplayOptions, type ReplaySink, type ReplayStats, type RState, type Work } from './replay-types.js';
import { checkSummary, checkSummaryTime, inferWork, markInferred, newRState, requestResult, same, stepDuration } from './replay-rules.js';

export { DEFAULT_DURATION, DURATION_SOURCES, type DurationSource, type ReplayOptions, type ReplaySink, type ReplayStats, type RequestResult } from './replay-types.js';

export class OtlpReplay {
  private readonly reqs = new Map<string, RState>();
  private running: RState[] = [];
  private seq = 0;
  /** Snapshot checks so far (marks on the requests, fromSnapshots). */
  private marks = 0;
  private lastStep = -1;
  private pending: Pending | undefined;
  private lastSummary: { step: number; start: number; line: number } | undefined;
  readonly stats: ReplayStats = newStats();

  constructor(
    private readonly o: ReplayOptions,
    private readonly sink: ReplaySink,
  ) {}

  /** A bad input record: throw (file:line) or, with skipBad, report and go on. */
  private bad(line: number, msg: string): void {
    const m = `${this.o.file}:${line}: ${msg}`;
    if (!this.o.skipBad) throw new InputError(m);
    this.sink.bad(m);
  }

  private mismatch(msg: string): void {
    this.stats.mismatches++;
    if (this.stats.mismatchExamples.length < MAX_EXAMPLES) this.stats.mismatchExamples.push(msg);
  }

  private drop(reason: string): void {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + 1;
  }

  private seen(ts: number): void {
    if (ts < this.stats.firstNs) this.stats.firstNs = ts;
    if (ts > this.stats.lastNs) this.stats.lastNs = ts;
  }

  /** Process every step up to and including `s`, whose records are `recs` (sorted by compareRecs). */
  processStep(s: number, recs: readonly StepRec[]): void {
    if (s <= this.lastStep) throw new Error(`replay: steps must increase (${s} after ${this.lastStep})`);
    // Untraced steps with no events: the running set carries on (pure decodes / chunk continuations).
    if (this.running.length > 0 && s - this.lastStep > 10_000_000) {
      throw new InputError(`${this.o.file}: step ids jump from ${this.lastStep} to ${s} while requests are running: implausible (corrupt scheduler.step?)`);
    }
    for (let k = this.lastStep + 1; k < s && this.running.length > 0; k++) this.oneStep(k, []);
    this.oneStep(s, recs);
    this.lastStep = s;
  }

  private req(id: string, line: number): RState {
    let st = this.reqs.get(id);
    if (!st) {
      st = newRState(id);
      this.reqs.set(id, st);
      this.stats.requestsSeen++;
      if (this.reqs.size > this.stats.maxInFlight) this.stats.maxInFlight = this.reqs.size;
    }
    void line;
    return st;
  }

  /** Per-request time order check; false when the event must be skipped. */
  private timeOk(st: RState, e: JourneyRec): boolean {
    if (e.ts < st.lastTs) {
      this.bad(e.line, `request ${st.id}: journey.${e.kind} at step ${e.step}: timestamps going backwards (ts.monotonic_ns ${e.ts} < ${st.lastTs} of its previous event)`);
      st.tainted ??= 'timestamps going backwards';
      return false;
    }
    st.lastTs = e.ts;
    this.seen(e.ts);
    return true;
  }

  private early(e: JourneyRec): void {
    if (e.kind === 'QUEUED') {
      const st = this.req(e.req, e.line);
      if (!this.timeOk(st, e)) return;
      st.times.queuedNs ??= e.ts;
      return;
    }
    if (e.kind === 'SCHEDULED') {
      const st = this.req(e.req, e.line);
      if (!this.timeOk(st, e)) return;
      if (st.running) {
        this.bad(e.line, `request ${st.id}: journey.SCHEDULED at step ${e.step} while it is already running (no PREEMPTED in between)`);
        return;
      }
      const resume = e.tag === 'RESUME' || st.admitted;
      st.prompt = e.total ?? st.prompt;
      if (resume) {
        if (e.count !== undefined && st.admitted && e.count !== st.outputs) {
          this.mismatch(`request ${st.id}: SCHEDULED(RESUME) at step ${e.step} says ${e.count} output tokens, replay counted ${st.outputs}`);
        }
        if (e.count !== undefined) st.outputs = e.count;
        if (st.preemptNs !== undefined) {
          const gap = Math.max(0, e.ts - st.preemptNs);
          if (st.times.firstTokenNs === undefined) st.times.prefillGapNs += gap;
          else st.times.decodeGapNs += gap;
          st.preemptNs = undefined;
        }
      } else {
        st.times.scheduledNs = e.ts;
      }
      st.admitted = true;
      st.running = true;
      st.prefilling = true;
      st.computed = e.pDone ?? 0;
      st.target = st.prompt + st.outputs;
      st.seq = ++this.seq;
      this.running.push(st);
      return;
    }
    // PREEMPTED
    const st = this.reqs.get(e.req);
    if (!st || !st.running) {
      this.bad(e.line, `request ${e.req}: journey.PREEMPTED at step ${e.step} but it is not running (no journey.SCHEDULED before it)`);
      return;
    }
    if (!this.timeOk(st, e)) return;
    st.running = false;
    st.preemptions = e.count ?? st.preemptions + 1;
    st.preemptNs = e.ts;
    st.computed = 0;
    this.running = this.running.filter((r) => r !== st);
  }

  private oneStep(s: number, recs: readonly StepRec[]): void {
    const early: JourneyRec[] = [];
    const late: JourneyRec[] = [];
    const snaps: SnapshotRec[] = [];
    let summary: SummaryRec | undefined;
    for (const r of recs) {
      if (r.t === 'J') (r.kind === 'FIRST_TOKEN' || r.kind === 'FINISHED' ? late : early).push(r);
      else if (r.t === 'R') snaps.push(r);
      else if (summary) this.bad(r.line, `step ${s}: a second step.BATCH_SUMMARY (first at line ${summary.line})`);
      else summary = r;
    }
    for (const e of early) this.early(e);
    if (summary) {
      const t = checkSummaryTime(
        s,
        summary,
        this.lastSummary,
        (l, msg) => this.bad(l, msg),
        (ts) => this.seen(ts),
      );
      summary = t.sum;
      this.lastSummary = t.last;
    }

    let uncertain = this.running.some((st) => st.uncertain);
    // with snapshots the rule's work is only compared with them: marks on the requests, no Work objects
    const mark = snaps.length > 0 ? ++this.marks : 0;
    const inferred = mark > 0 ? { work: [], ...markInferred(this.running, this.o.maxNumBatchedTokens, mark) } : { count: 0, ...inferWork(this.running, this.o.maxNumBatchedTokens) };
    if (inferred.overBudget) {
      uncertain = true;
      this.mismatch(`step ${s}: ${this.running.filter((r) => !r.prefilling).length} running decodes exceed max_num_batched_tokens ${this.o.maxNumBatchedTokens}`);
    }
    let work = inferred.work;
    let exact = false;
    if (snaps.length > 0) {
      exact = true;
      work = this.fromSnapshots(s, snaps, inferred.count, mark);
    } else if (summary) {
      const r = checkSummary(s, summary, work, this.stats, (m) => this.mismatch(m));
      if (r === 'conflict') uncertain = true;
    }

    // Members for request-level targets: every running request, with or without tokens this step.
    for (const st of this.running) (st.firstTokenStep === undefined ? st.pfSteps : st.dcSteps).push(s);

    // FIRST_TOKEN checks against the composition (before it is applied).
    const finishing: { st: RState; e: JourneyRec }[] = [];
    const firstTokenReqs = new Set<RState>();
    if (this.checkTokens(s, late, work, exact, finishing, firstTokenReqs)) uncertain = true;

    // Canonical step and state update.
    const { prefill, decode } = this.applyWork(work, firstTokenReqs);
    for (const { st, e } of finishing) {
      if (e.count !== undefined && e.count !== st.outputs) this.mismatch(`request ${st.id}: FINISHED at step ${s} says ${e.count} output tokens, replay counted ${st.outputs}`);
      st.times.finishedNs = e.ts;
      st.running = false;
      this.running = this.running.filter((r) => r !== st);
      this.reqs.delete(st.id);
      this.stats.requestsFinished++;
      this.emitRequest(st, true);
    }

    const step: Step = { experiment: this.o.experiment, step: s, prefill, decode };
    if (prefill.length === 0 && decode.length === 0) {
      this.drop('no work in the step (empty composition)');
      this.taint(work, 'a member step had no composition');
      this.flushPending(undefined);
      return;
    }
    if (uncertain && !this.o.keepUncertain) {
      this.drop('composition uncertain (rule disagrees with journey events or batch summary)');
      for (const st of this.running) st.tainted ??= 'a member step was dropped (uncertain composition)';
      for (const w of work) w.st.tainted ??= 'a member step was dropped (uncertain composition)';
      this.flushPending(undefined);
      return;
    }
    const p: Pending = { step, start: summary?.start, end: summary?.end, durUs: summary?.durUs, idleAfter: this.running.length === 0 && this.reqs.size === 0, exact };
    this.flushPending(p);
    this.pending = p;
  }

  /** FIRST_TOKEN / FINISHED events against the composition (before it is applied); true when the step is uncertain. */
  private checkTokens(s: number, late: readonly JourneyRec[], work: Work[], exact: boolean, finishing: { st: RState; e: JourneyRec }[], firstTokenReqs: Set<RState>): boolean {
    let uncertain = false;
    for (const e of late) {
      const st = this.reqs.get(e.req);
      if (!st || !st.admitted) {
        this.bad(e.line, `request ${e.req}: journey.${e.kind} at step ${e.step} before any journey.SCHEDULED`);
        continue;
      }
      if (!this.timeOk(st, e)) continue;
      if (e.kind === 'FIRST_TOKEN') {
        if (st.times.firstTokenNs !== undefined) {
          this.bad(e.line, `request ${st.id}: a second journey.FIRST_TOKEN at step ${e.step}`);
          continue;
        }
        if (!st.running) {
          this.bad(e.line, `request ${st.id}: journey.FIRST_TOKEN at step ${e.step} while it is preempted`);
          continue;
        }
        firstTokenReqs.add(st);
        const w = work.find((x) => x.st === st);
        const completes = w !== undefined && !w.decode && st.computed + w.tokens >= st.target;
        if (!completes && st.prefilling) {
          const left = st.target - st.computed - (w?.tokens ?? 0);
          this.mismatch(`step ${s}: request ${st.id} got FIRST_TOKEN but the rule leaves ${left} of its prefill tokens for later`);
          if (w) w.tokens = st.target - st.computed;
          else work.push({ st, tokens: st.target - st.computed, decode: false });
          uncertain = true;
        }
        st.times.firstTokenNs = e.ts;
        st.firstTokenStep = s;
        st.uncertain = false;
      } else {
        if (!st.running) {
          this.bad(e.line, `request ${st.id}: journey.FINISHED at step ${e.step} while it is preempted`);
          continue;
        }
        if (!work.some((x) => x.st === st)) {
          this.mismatch(`step ${s}: request ${st.id} FINISHED but has no work in the step by the rule`);
          uncertain = true;
        }
        finishing.push({ st, e });
      }
    }
    // A first prefill the rule completes here without a FIRST_TOKEN: the rule is off for it.
    for (const w of work) {
      const st = w.st;
      if (w.decode || st.outputs > 0 || firstTokenReqs.has(st) || st.computed + w.tokens < st.target) continue;
      if (exact) continue; // snapshots are authoritative; FIRST_TOKEN may be missing from a partial trace
      this.mismatch(`step ${s}: the rule completes the prefill of ${st.id} but its FIRST_TOKEN is not at this step`);
      st.uncertain = true;
      uncertain = true;
    }

    return uncertain;
  }

  /** The canonical step of the work, and the state update it implies. */
  private applyWork(work: readonly Work[], firstTokenReqs: ReadonlySet<RState>): { prefill: PrefillChunk[]; decode: number[] } {
    const prefill: PrefillChunk[] = [];
    const decode: number[] = [];
    for (const w of work) {
      const st = w.st;
      const c = canonicalEntry(st.prompt, st.computed, w.tokens, st.outputs);
      if ('decode' in c) decode.push(c.decode);
      else prefill.push(c);
      st.computed += w.tokens;
      if (st.prefilling && st.computed >= st.target) {
        if (st.uncertain && !firstTokenReqs.has(st))
          st.computed = st.target - 1; // keep it prefilling until its FIRST_TOKEN
        else {
          st.prefilling = false;
          st.outputs++;
        }
      } else if (!st.prefilling) st.outputs++;
    }
    return { prefill, decode };
  }

  private taint(work: Work[], why: string): void {
    for (const w of work) w.st.tainted ??= why;
  }

  /**
   * Exact composition from snapshots; compares with the inferred work (`inferred` requests marked
   * `mark` by markInferred) and resyncs the state. The inference agrees when the snapshots are
   * exactly the inferred (request, computed, tokens) triples — each running request is in the
   * inferred work at most once, so a mark on the request stands for the set of triples.
   */
  private fromSnapshots(s: number, snaps: SnapshotRec[], inferred: number, mark: number): Work[] {
    let agree = inferred === snaps.length;
    const work: Work[] = [];
    for (const r of snaps) {
      let st = this.reqs.get(r.req);
      if (st !== undefined && st.snapMark === mark) {
        this.bad(r.line, `step ${s}: a second step.REQUEST_SNAPSHOT for request ${r.req}`);
        continue;
      }
      if (agree && !(st !== undefined && st.mark === mark && same(st.infComputed, r.computed) && same(st.infTokens, r.scheduled))) agree = false;
      if (!st || !st.running) {
        this.mismatch(`step ${s}: snapshot of request ${r.req}, which the journey events do not show running`);
        // Use it anyway: snapshots are authoritative for the composition.
        st ??= this.req(r.req, r.line);
        st.tainted ??= 'missing journey events';
        if (!st.running) {
          st.admitted = true;
          st.running = true;
          st.seq = ++this.seq;
          this.running.push(st);
        }
      }
      st.snapMark = mark;
      st.prompt = r.prompt;
      st.computed = r.computed;
      st.outputs = r.outputs;
      const decodeLike = r.outputs >= 1 && r.scheduled === 1 && r.computed === r.prompt + r.outputs - 1;
      st.prefilling = !decodeLike;
      st.target = r.prompt + r.outputs;
      if (r.scheduled === 0) continue;
      work.push({ st, tokens: r.scheduled, decode: decodeLike });
    }
    if (agree) this.stats.snapshotAgree++;
    else this.stats.snapshotDisagree++;
    return work;
  }

  private flushPending(next: Pending | undefined): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    const dur = stepDuration(p, next, this.o.duration);
    const q = p.step;
    // not a spread: copying an object literal's properties that way costs more than the rest of the step
    const step: Step = dur !== undefined && dur > 0 ? { experiment: q.experiment, step: q.step, prefill: q.prefill, decode: q.decode, durationUs: dur } : q;
    if (step.durationUs !== undefined) this.stats.withDuration++;
    this.stats.steps++;
    if (p.exact) this.stats.exact++;
    else this.stats.inferred++;
    this.sink.step(step);
  }

  private emitRequest(st: RState, finished: boolean): void {
    this.sink.request(requestResult(st, finished));
  }

  /** End of input: flush the last step and report requests still in flight. */
  finish(): void {
    this.flushPending(undefined);
    for (const st of this.reqs.values()) {
      this.stats.requestsUnfinished++;
      this.emitRequest(st, false);
    }
    this.reqs.clear();
    this.running = [];
  }
}
