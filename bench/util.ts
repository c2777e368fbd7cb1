/** Helpers for benches: wall time and peak RSS sampling. */
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
