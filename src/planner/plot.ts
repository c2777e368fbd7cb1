/**
 * Small SVG line plots for the planner page (no fonts, no network): log-2 or linear x, linear y,
 * one polyline + markers per series, optional horizontal SLA line. Returns SVG markup.
 */
export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}
export interface PlotSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  readonly logX?: boolean;
  readonly hline?: { y: number; label: string };
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
  return out;
}

const fmt = (v: number): string => (Number.isInteger(v) ? String(v) : Math.abs(v) >= 1000 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(1) : v.toPrecision(2));

export function linePlot(p: PlotSpec, width = 460, height = 260): string {
  const m = { l: 56, r: 12, t: 28, b: 42 };
  const pts = p.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!p.logX || x > 0));
  const xs = pts.map(([x]) => (p.logX ? Math.log2(x) : x));
  const ys = pts.map(([, y]) => y).concat(p.hline && Number.isFinite(p.hline.y) ? [p.hline.y] : []);
  let x0 = xs.length ? Math.min(...xs) : 0;
  let x1 = xs.length ? Math.max(...xs) : 1;
  if (x1 === x0) {
    x0 -= 1;
    x1 += 1;
  }
  const y0 = 0;
  let y1 = ys.length ? Math.max(...ys) * 1.08 : 1;
  if (!(y1 > 0)) y1 = 1;
  const W = width - m.l - m.r;
  const H = height - m.t - m.b;
  const sx = (x: number): number => m.l + (((p.logX ? Math.log2(x) : x) - x0) / (x1 - x0)) * W;
  const sy = (y: number): number => m.t + H - ((y - y0) / (y1 - y0)) * H;
  const parts: string[] = [];
  parts.push(`<text x="${width / 2}" y="16" text-anchor="middle" class="pt">${esc(p.title)}</text>`);
  parts.push(`<line x1="${m.l}" y1="${m.t + H}" x2="${m.l + W}" y2="${m.t + H}" class="ax"/><line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${m.t + H}" class="ax"/>`);
  for (const t of niceTicks(y0, y1))
    parts.push(
      `<line x1="${m.l - 4}" y1="${sy(t).toFixed(1)}" x2="${m.l + W}" y2="${sy(t).toFixed(1)}" class="gr"/><text x="${m.l - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`,
    );
  const xt = p.logX
    ? niceTicks(Math.ceil(x0), Math.floor(x1), 8)
        .filter((t) => Number.isInteger(t))
        .map((t) => 2 ** t)
    : niceTicks(x0, x1);
  for (const t of xt) parts.push(`<text x="${sx(t).toFixed(1)}" y="${m.t + H + 16}" text-anchor="middle">${fmt(t)}</text>`);
  parts.push(`<text x="${m.l + W / 2}" y="${height - 6}" text-anchor="middle">${esc(p.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${m.t + H / 2}) rotate(-90)" text-anchor="middle">${esc(p.yLabel)}</text>`);
  if (p.hline && Number.isFinite(p.hline.y) && p.hline.y > 0) {
    const y = sy(p.hline.y).toFixed(1);
    parts.push(`<line x1="${m.l}" y1="${y}" x2="${m.l + W}" y2="${y}" class="sla"/><text x="${m.l + W - 2}" y="${(+y - 4).toFixed(1)}" text-anchor="end" class="slat">${esc(p.hline.label)}</text>`);
  }
  p.series.forEach((s, i) => {
    const c = PALETTE[i % PALETTE.length]!;
    const ok = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!p.logX || x > 0));
    if (!ok.length) return;
    parts.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${ok.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of ok) parts.push(`<circle class="mk" cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${c}"><title>${esc(s.name)}: (${fmt(x)}, ${fmt(y)})</title></circle>`);
  });
  if (p.series.length > 1)
    p.series.forEach((s, i) =>
      parts.push(`<rect x="${m.l + 8}" y="${m.t + 4 + i * 14}" width="10" height="3" fill="${PALETTE[i % PALETTE.length]}"/><text x="${m.l + 22}" y="${m.t + 9 + i * 14}">${esc(s.name)}</text>`),
    );
  const label = `${p.title}: ${p.series.map((s) => `${s.name}, ${s.points.length} points`).join('; ')}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(label)}">${parts.join('')}</svg>`;
}
