/** Browser stand-in for `node:url` (only what src/io/paths.ts uses). */
export function fileURLToPath(u: string | URL): string {
  return decodeURIComponent(new URL(String(u)).pathname);
}
export default { fileURLToPath };
