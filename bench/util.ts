/** Helpers for benches: wall time and peak RSS sampling, recorded figures and their comparison with a baseline. */
export interface Measured<T> {
  result: T;
  seconds: number;
  peakRssMiB: number;
  startRssMiB: number;
}

export async function measure<T>(fn: () => Promise<T> | T): Promise<Measured<T>> {
  (globalThis as { gc?: () => void }).gc?.();
  const startRss = process.memoryUsage().rss;
  let peak = startRss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const t0 = process.hrtime.bigint();
  const result = await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  return { result, seconds, peakRssMiB: peak / 2 ** 20, startRssMiB: startRss / 2 ** 20 };
}

/** A recorded bench figure: its value, unit, and which direction is better. */
export interface Figure {
  value: number;
  unit: string;
  better: 'higher' | 'lower';
}

/** What a bench calls to record a figure (compared with bench/baseline.json by run.ts). */
export type RecordFigure = (name: string, value: number, unit: string, better: 'higher' | 'lower') => void;

const fmt = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toPrecision(3));

/** One line: the figure, and its ratio to the baseline's (now / before), marked when worse by > 10 %. */
export function compareFigures(name: string, now: Figure, before: Figure | undefined): string {
  const head = `${name}: ${fmt(now.value)} ${now.unit}`;
  if (!before || !(before.value > 0) || before.unit !== now.unit) return `${head} (no baseline)`;
  const ratio = now.value / before.value;
  const worse = now.better === 'higher' ? ratio < 0.9 : ratio > 1.1;
  return `${head} (×${ratio.toFixed(2)} vs baseline ${fmt(before.value)}${worse ? ', REGRESSION' : ''})`;
}
