#!/usr/bin/env bash
# Pack stepfit, install the tarball into a scratch project (as a user would), and check that
#   npx stepfit --help, npx stepfit demo, and a TypeScript file importing the library API
# work there. Exit 0 when all pass; prints one line per check. Used by .ci/run.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
check() { local name=$1; shift; if "$@" >"$work/log" 2>&1; then echo "pack-check ok: $name"; else echo "pack-check FAILED: $name"; tail -n 20 "$work/log"; fail=1; fi; }
cd "$root" && npm pack --silent --pack-destination "$work" >"$work/packname" 2>"$work/packerr" || { echo "pack-check FAILED: npm pack"; cat "$work/packerr"; exit 1; }
tgz="$work/$(tail -n 1 "$work/packname")"
tar tzf "$tgz" > "$work/contents"
grep -q 'package/dist/cli/main.js' "$work/contents" || { echo "pack-check FAILED: tarball has no dist/cli/main.js"; exit 1; }
if grep -qE 'package/(src|test|bench|tools)/' "$work/contents"; then echo "pack-check FAILED: tarball ships src/test/bench/tools"; fail=1; fi
mkdir -p "$work/app" && cd "$work/app"
echo '{"name":"scratch","version":"1.0.0","type":"module","private":true}' > package.json
# typescript and @types/node come from this repo's node_modules (no registry needed for them)
check "npm install <tarball>" npm install --no-audit --no-fund --prefer-offline "$tgz"
check "npx stepfit --help" npx --no-install stepfit --help
check "npx stepfit demo" npx --no-install stepfit demo --out "$work/app/demo"
cat > use.ts <<'TS'
import { loadArchitecture, loadGpu, fittedModel, engineStepUs, compileEngine, withFitDefaults, type Step } from 'stepfit';
const arch = loadArchitecture('llama-3.1-8b');
const gpu = loadGpu('h100-sxm');
const step: Step = { experiment: 'x', step: 0, prefill: [{ tokens: 512, prior: 0, prompt: 512 }], decode: [1024] };
const opts = withFitDefaults({ basis: 'seed' });
const e = compileEngine({ arch, gpu, tp: 1 }, {});
const us: number = engineStepUs(step, e);
if (!(us > 0) || opts.method !== 'nnls' || typeof fittedModel !== 'function') throw new Error('library API misbehaves');
console.log(`engine step ${us.toFixed(0)} µs`);
TS
cat > tsconfig.json <<'TS'
{ "compilerOptions": { "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true, "skipLibCheck": true, "noEmit": true, "types": ["node"], "typeRoots": ["ROOT/node_modules/@types"] }, "include": ["use.ts"] }
TS
sed -i "s#ROOT#$root#" tsconfig.json
check "tsc on a file importing the API" node "$root/node_modules/typescript/bin/tsc" -p tsconfig.json
check "run the file importing the API" node "$root/node_modules/tsx/dist/cli.mjs" use.ts
exit $fail
