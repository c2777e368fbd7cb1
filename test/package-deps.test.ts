/**
 * Every runtime dependency in package.json is used by the shipped code (src/), or is listed here with
 * the reason it is declared without a direct import. A dependency nobody uses fails this test.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './support/shared.js';

/** Declared on purpose without an import from src/. */
const INDIRECT: Readonly<Record<string, string>> = {
  '@uwdata/flechette': "arquero's Arrow library, pinned to 2.6.0 as a real dependency so consumers need no overrides",
  commander: 'peer dependency of @commander-js/extra-typings (the typed wrapper src/cli uses)',
  protobufjs: "runtime of @opentelemetry/otlp-transformer's generated OTLP protobuf code (collect/server.ts)",
};

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : /\.ts$/.test(e.name) ? [p] : [];
  });
}

describe('package.json dependencies', () => {
  it('each is imported (or resolved) by src/, or declared indirect with a reason', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const text = sources(path.join(REPO_ROOT, 'src'))
      .map((f) => fs.readFileSync(f, 'utf8'))
      .join('\n');
    const unused = Object.keys(pkg.dependencies).filter((d) => !INDIRECT[d] && !text.includes(`'${d}'`) && !text.includes(`'${d}/`));
    expect(unused).toEqual([]);
    for (const d of Object.keys(INDIRECT)) expect(pkg.dependencies, d).toHaveProperty(d);
  });

  it('the dropped ones stay dropped: simple-statistics; ml-regression-multivariate-linear is a test-only cross-check', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    expect(pkg.dependencies).not.toHaveProperty('simple-statistics');
    expect(pkg.dependencies).not.toHaveProperty('ml-regression-multivariate-linear');
    expect(pkg.devDependencies).toHaveProperty('ml-regression-multivariate-linear');
  });
});
