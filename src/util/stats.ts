/**
 * The one statistics module (fit, predict, report): Student-t and normal quantiles and CDFs for
 * intervals, quadratic forms for parameter variance, seeded hashing (fold assignment, Poisson bootstrap) and Poisson(1) draws.
 * Everything is deterministic and platform independent.
 */

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; |rel err| < 1e-15). */
export function logGamma(x: number): number {
  const g = 7;
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + g + 0.5;
  for (let i = 1; i < g + 2; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction for the incomplete beta function (modified Lentz; Numerical Recipes `betacf`). */
function betacf(a: number, b: number, x: number): number {
  const FPMIN = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < FPMIN) d = FPMIN;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = 1 + aa / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = 1 + aa / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const bt = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (bt * betacf(a, b, x)) / a : 1 - (bt * betacf(b, a, 1 - x)) / b;
}

/** Student-t CDF with ν degrees of freedom: F(t) = 1 − ½·I_{ν/(ν+t²)}(ν/2, ½) for t ≥ 0 (symmetric). */
export function tCdf(t: number, nu: number): number {
  const tail = 0.5 * incompleteBeta(nu / (nu + t * t), nu / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** Standard normal CDF Φ(z) = ½·erfc(−z/√2), via the regularized incomplete gamma P(½, z²/2). */
export function normalCdf(z: number): number {
  const p = gammaP(0.5, (z * z) / 2);
  return z >= 0 ? 0.5 + 0.5 * p : 0.5 - 0.5 * p;
}

/** Regularized lower incomplete gamma P(a, x) (series for x < a+1, continued fraction otherwise). */
export function gammaP(a: number, x: number): number {
  if (x <= 0) return 0;
  const gln = logGamma(a);
  if (x < a + 1) {
    let ap = a;
    let sum = 1 / a;
    let del = sum;
    for (let n = 0; n < 10000; n++) {
      ap += 1;
      del *= x / ap;
      sum += del;
      if (Math.abs(del) < Math.abs(sum) * 1e-17) break;
    }
    return sum * Math.exp(-x + a * Math.log(x) - gln);
  }
  let b = x + 1 - a;
  let c = 1 / 1e-300;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (Math.abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return 1 - Math.exp(-x + a * Math.log(x) - gln) * h;
}

/** Standard normal quantile Φ⁻¹(p) by bisection on `normalCdf` (|err| < 1e-14). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile: p must be in (0, 1), got ${p}`);
  let lo = -40;
  let hi = 40;
  for (let i = 0; i < 200 && hi - lo > 1e-15; i++) {
    const mid = (lo + hi) / 2;
    if (normalCdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * Student-t quantile t_p(ν): bisection on the exact CDF for ν ≤ 10⁴; for larger ν the
 * Cornish–Fisher expansion (Abramowitz & Stegun 26.7.5) around the normal quantile z:
 * t = z + (z³+z)/(4ν) + (5z⁵+16z³+3z)/(96ν²) + (3z⁷+19z⁵+17z³−15z)/(384ν³).
 */
export function tQuantile(p: number, nu: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`tQuantile: p must be in (0, 1), got ${p}`);
  if (!(nu > 0)) throw new RangeError(`tQuantile: degrees of freedom must be > 0, got ${nu}`);
  if (p < 0.5) return -tQuantile(1 - p, nu);
  if (p === 0.5) return 0;
  if (nu > 1e4) {
    const z = normalQuantile(p);
    const z3 = z ** 3;
    const z5 = z ** 5;
    const z7 = z ** 7;
    return z + (z3 + z) / (4 * nu) + (5 * z5 + 16 * z3 + 3 * z) / (96 * nu * nu) + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * nu ** 3);
  }
  let lo = 0;
  let hi = 1;
  while (tCdf(hi, nu) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-14 * Math.max(1, hi); i++) {
    const mid = (lo + hi) / 2;
    if (tCdf(mid, nu) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** murmur3 32-bit finaliser. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Deterministic 32-bit hash of a few non-negative integers (seed, experiment, row, replicate…). */
export function hash32(a: number, b: number, c: number, d = 0): number {
  let h = fmix32((a >>> 0) ^ 0x9e3779b9);
  h = fmix32((h ^ (b >>> 0)) + 0x7f4a7c15);
  h = fmix32((h ^ (c >>> 0)) + 0x165667b1);
  h = fmix32((h ^ (d >>> 0)) + 0x27d4eb2f);
  return h;
}

/** Uniform in [0, 1) from a hash. */
export const hashUniform = (a: number, b: number, c: number, d = 0): number => hash32(a, b, c, d) / 4294967296;

/** CDF of Poisson(1) at k = 0..12 (P(X ≤ k) = e⁻¹·Σ_{j≤k} 1/j!). */
const POISSON1_CDF: Float64Array = (() => {
  const out = new Float64Array(13);
  let term = Math.exp(-1);
  let acc = 0;
  for (let k = 0; k < 13; k++) {
    acc += term;
    out[k] = acc;
    term /= k + 1;
  }
  return out;
})();

/** A Poisson(1) draw from a uniform u ∈ [0, 1) by inverting the CDF (used for the Poisson bootstrap). */
export function poisson1(u: number): number {
  for (let k = 0; k < POISSON1_CDF.length; k++) if (u < POISSON1_CDF[k]!) return k;
  return POISSON1_CDF.length;
}

/** Quadratic form xᵀ·C·x for a row-major p×p matrix C. */
export function quadForm(x: Float64Array, C: Float64Array | readonly number[], p: number): number {
  let s = 0;
  for (let i = 0; i < p; i++) {
    const xi = x[i]!;
    if (xi === 0) continue;
    let r = 0;
    for (let j = 0; j < p; j++) r += C[i * p + j]! * x[j]!;
    s += xi * r;
  }
  return s;
}
