#!/usr/bin/env node
// The `switchyard` executable.
import { runCli } from './program.js';
import { processIo } from './io.js';
import { handleOutputError } from './closed-output.js';

// A reader that goes away (`switchyard status --watch | head`) ends the command quietly;
// stderr failing leaves nowhere to say anything, so its errors are dropped.
process.stdout.on('error', (err) => handleOutputError(err, (code) => process.exit(code)));
process.stderr.on('error', () => undefined);

const code = await runCli(process.argv.slice(2), processIo);
// Long-running commands resolve only after a graceful stop; end the process with their code.
process.exit(code);
