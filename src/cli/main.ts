#!/usr/bin/env node
// The `switchyard` executable.
import { runCli } from './program.js';
import { processIo } from './io.js';

const code = await runCli(process.argv.slice(2), processIo);
// Long-running commands resolve only after a graceful stop; end the process with their code.
process.exit(code);
