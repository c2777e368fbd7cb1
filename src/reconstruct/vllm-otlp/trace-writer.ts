/** Trace files: a streaming atomic writer (gzip by name) and the exp-config.yaml of an experiment directory. */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { once } from 'node:events';
import YAML from 'yaml';
import { trackTemp, releaseTemp } from '../../io/atomic.js';
import { InputError } from '../../io/errors.js';
import type { ScheduleConfig } from '../../scheduler/schedule-log.js';

/**
 * A streaming, atomic trace file writer (temp file renamed into place on `close`), gzipped when
 * `gzip` is set or the name ends in `.gz`. `line()` is synchronous (fits the emitter's sink);
 * call `await drain()` now and then to honour back-pressure.
 */
export class TraceFileWriter {
  private readonly tmp: string;
  private readonly file: fs.WriteStream;
  private readonly head: NodeJS.WritableStream;
  private buf: string[] = [];
  private bufLen = 0;
  private closed = false;
  private error: Error | null = null;
  bytesIn = 0;

  constructor(
    readonly target: string,
    gzip = target.endsWith('.gz'),
  ) {
    try {
      fs.mkdirSync(path.dirname(path.resolve(target)), { recursive: true });
    } catch (e) {
      throw new InputError(`cannot write trace '${target}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    this.tmp = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${Date.now().toString(36)}`);
    trackTemp(this.tmp);
    this.file = fs.createWriteStream(this.tmp);
    // an unwritable directory (EACCES/EPERM) or a full disk surfaces from close() as one line, not an unhandled stream error
    this.file.on('error', (e) => {
      this.error ??= e;
    });
    if (gzip) {
      const gz = zlib.createGzip({ level: 1 });
      gz.pipe(this.file);
      this.head = gz;
    } else {
      this.head = this.file;
    }
  }

  line(s: string): void {
    this.buf.push(s);
    this.bufLen += s.length + 1;
    if (this.bufLen > 1 << 20) this.flushBuf();
  }

  private needDrain = false;
  private flushBuf(): void {
    if (this.buf.length === 0) return;
    const chunk = this.buf.join('\n') + '\n';
    this.bytesIn += Buffer.byteLength(chunk);
    this.buf = [];
    this.bufLen = 0;
    if (!this.head.write(chunk)) this.needDrain = true;
  }

  async drain(): Promise<void> {
    if (this.needDrain) {
      this.needDrain = false;
      await once(this.head as unknown as NodeJS.EventEmitter, 'drain');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flushBuf();
    this.closed = true;
    this.head.end();
    if (!this.error) await Promise.race([once(this.file, 'finish'), once(this.file, 'close')]);
    if (this.error) {
      fs.rmSync(this.tmp, { force: true });
      releaseTemp(this.tmp);
      throw new InputError(`cannot write trace '${this.target}': ${this.error.message}`);
    }
    fs.renameSync(this.tmp, this.target);
    releaseTemp(this.tmp);
  }

  abort(): void {
    if (this.closed) return;
    this.closed = true;
    this.file.destroy();
    fs.rmSync(this.tmp, { force: true });
    releaseTemp(this.tmp);
  }
}

/** The exp-config.yaml of an experiment directory, as the data-collection harness writes it. */
export function expConfigYaml(cfg: ScheduleConfig): string {
  const o: Record<string, unknown> = {
    model: cfg.model ?? 'unknown',
    tensor_parallelism: cfg.tensorParallelism ?? 1,
    max_num_batched_tokens: cfg.maxNumBatchedTokens,
  };
  if (cfg.maxModelLen !== undefined) o['max_model_len'] = cfg.maxModelLen;
  if (cfg.maxNumSeqs !== undefined) o['max_num_seqs'] = cfg.maxNumSeqs;
  if (cfg.blockSize !== undefined) o['block_size'] = cfg.blockSize;
  if (cfg.numGpuBlocks !== undefined) o['num_gpu_blocks'] = cfg.numGpuBlocks;
  return YAML.stringify(o);
}
