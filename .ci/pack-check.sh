#!/usr/bin/env bash
# Pack the tarball, install it into a scratch project (offline from the local npm cache), run the
# installed bin and type-check a TypeScript file that imports the library API.
# Prints one line: "pack-check: ok" or "pack-check: FAILED (<step>)"; exit 0 / 1.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "pack-check: FAILED ($1)"; [ -s "$scratch/log" ] && tail -n 20 "$scratch/log"; exit 1; }
# .ci/run passes --no-build: `npm ci` has just built dist/ through the prepare script
if [ "${1:-}" != "--no-build" ]; then npm run -s build >"$scratch/log" 2>&1 || fail "npm run build"; fi
tgz=$(npm pack --silent --ignore-scripts --pack-destination "$scratch" 2>>"$scratch/log" | tail -n 1)
[ -n "$tgz" ] && [ -f "$scratch/$tgz" ] || fail "npm pack"
mkdir -p "$scratch/app" && cd "$scratch/app" || fail "scratch project"
printf '{ "name": "scratch", "private": true, "type": "module" }\n' >package.json
npm install --no-audit --no-fund --prefer-offline "$scratch/$tgz" >>"$scratch/log" 2>&1 || fail "npm install of the tarball"
npx --no-install stepfit --help >"$scratch/help.txt" 2>>"$scratch/log" || fail "npx stepfit --help"
grep -q 'demo' "$scratch/help.txt" || fail "npx stepfit --help lists no commands"
npx --no-install stepfit demo --out "$scratch/demo" >>"$scratch/log" 2>&1 || fail "npx stepfit demo"
cat >consumer.ts <<'TS'
import { fitSync, defaultFitOptions, getBasis, DEFAULT_BASIS, type FitOptions, type Step } from 'stepfit';
const opts: FitOptions = defaultFitOptions({});
const basisName: string = getBasis(DEFAULT_BASIS).name;
const run: typeof fitSync = fitSync;
const s: Step | undefined = undefined;
console.log(opts.method, basisName, typeof run, s);
TS
cat >tsconfig.json <<'TS'
{ "compilerOptions": { "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true, "noEmit": true, "types": [] }, "files": ["consumer.ts"] }
TS
node "$root/node_modules/typescript/bin/tsc" -p tsconfig.json >>"$scratch/log" 2>&1 || fail "type-check of a file importing 'stepfit'"
echo "pack-check: ok"
