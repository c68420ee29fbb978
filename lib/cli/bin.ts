#!/usr/bin/env node
// The `raddino` executable (package.json "bin"); the commands live in ./index.ts.
import { main } from './index.js';

main().then((code) => {
  process.exitCode = code;
});
