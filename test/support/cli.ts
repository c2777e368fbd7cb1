/** Run the CLI in-process and collect its output. */
import { main } from '../../src/cli/main.js';
import { memoryIO } from '../../src/cli/io.js';

export async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = memoryIO();
  const code = await main(args, io);
  return { code, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n') };
}
