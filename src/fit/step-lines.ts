/** Step records of an experiment as the fit reads them: JSON Lines in ~1 MiB batches, Parquet row groups, arrays or generators. */
import { isBatchSource, type BadLineSink, type FitExperiment, type StepSource } from './dataset-types.js';
import { InputError, jsonErrorDetail } from '../io/errors.js';
import { MAX_LINE_BYTES, openInput } from '../io/lines.js';
import { batchSteps, type StepBatch } from '../steps/batch.js';
import { stepFiles } from '../steps/io.js';
import { isParquetPath, readStepsParquetRows } from '../steps/parquet.js';
import { validateStep, type Step } from '../steps/step.js';

/**
 * Lines of a (possibly gzipped) text file in batches: one await per ~1 MiB chunk instead of one
 * per line. Blank lines are skipped but counted. Same errors as io/lines.ts `readLines`.
 */
export async function* readLineBatches(file: string): AsyncGenerator<{ lines: string[]; lineNos: number[] }> {
  const input = openInput(file);
  let rest = '';
  let lineNo = 0;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let first = true;
  let pending: string[] = [];
  let pendingLen = 0;
  try {
    for await (const chunk of input as AsyncIterable<Buffer | string>) {
      let piece: string;
      try {
        piece = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
      } catch {
        throw new InputError(`${file}:${lineNo + 1}: not valid UTF-8 text (at or after this line)`);
      }
      if (first) {
        first = false;
        if (piece.charCodeAt(0) === 0xfeff) piece = piece.slice(1);
      }
      if (piece.indexOf('\n') < 0) {
        // no line ends in this chunk: keep it aside (no quadratic re-concatenation of a long line)
        pending.push(piece);
        pendingLen += piece.length;
        if (rest.length + pendingLen > MAX_LINE_BYTES) throw new InputError(`${file}:${lineNo + 1}: line longer than ${MAX_LINE_BYTES / (1024 * 1024)} MiB without a newline (not a JSON Lines file?)`);
        continue;
      }
      const text = rest + (pending.length > 0 ? pending.join('') : '') + piece;
      pending = [];
      pendingLen = 0;
      const parts = text.split('\n');
      rest = parts.pop()!;
      const lines: string[] = [];
      const lineNos: number[] = [];
      for (const raw of parts) {
        lineNo++;
        const l = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
        if (l.trim() === '') continue;
        lines.push(l);
        lineNos.push(lineNo);
      }
      if (lines.length > 0) yield { lines, lineNos };
    }
    rest += pending.join('') + decoder.decode();
    if (rest.trim() !== '') yield { lines: [rest.endsWith('\r') ? rest.slice(0, -1) : rest], lineNos: [lineNo + 1] };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err instanceof InputError) throw err;
    if (err.code === 'Z_BUF_ERROR' || err.code === 'Z_DATA_ERROR' || /unexpected end|incorrect header/i.test(err.message)) {
      throw new InputError(`${file}:${lineNo + 1}: corrupt or truncated gzip data (${err.message})`);
    }
    throw new InputError(`${file}: read error: ${err.message}`);
  }
}

/** Parse and validate one step line. */
export function parseStepLine(text: string, file: string, lineNo: number): Step {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file}:${lineNo}: not valid JSON (${jsonErrorDetail(err)})`);
  }
  return validateStep(v, `${file}:${lineNo}`);
}

/** `parseStepLine`, or null when the line is bad and `skipBad` takes it (reported there). */
export function parseStepLineOrSkip(text: string, file: string, lineNo: number, skipBad: BadLineSink | undefined): Step | null {
  try {
    return parseStepLine(text, file, lineNo);
  } catch (err) {
    if (skipBad && err instanceof InputError) {
      skipBad.bad(err.message);
      return null;
    }
    throw err;
  }
}

/** Steps of an experiment with where each came from (file:line, or a record index). */
export async function* iterateSteps(e: FitExperiment): AsyncGenerator<{ step: Step; file: string | null; lineNo: number }> {
  const src = e.steps;
  if (typeof src === 'string') {
    for (const file of stepFiles(src)) {
      if (isParquetPath(file)) {
        for await (const { step, row } of readStepsParquetRows(file)) yield { step, file, lineNo: row };
        continue;
      }
      for await (const { lines, lineNos } of readLineBatches(file)) {
        for (let k = 0; k < lines.length; k++) {
          const step = parseStepLineOrSkip(lines[k]!, file, lineNos[k]!, e.skipBad);
          if (step) yield { step, file, lineNo: lineNos[k]! };
        }
      }
    }
    return;
  }
  let k = 0;
  for await (const step of inMemorySteps(src)) yield { step, file: null, lineNo: k++ };
}

/** The steps of an in-memory source (array, generator factory or column batches) as step records. */
export async function* inMemorySteps(src: Exclude<StepSource, string>): AsyncGenerator<Step> {
  if (isBatchSource(src)) {
    const it = typeof src.batches === 'function' ? src.batches() : src.batches;
    for await (const b of it as AsyncIterable<StepBatch>) yield* batchSteps(b);
    return;
  }
  const it = Array.isArray(src) ? src : (src as () => Iterable<Step> | AsyncIterable<Step>)();
  yield* it as AsyncIterable<Step>;
}
