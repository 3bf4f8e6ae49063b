#!/usr/bin/env node
import('../dist/cli/index.js').then((m) => m.main(process.argv)).catch((err) => {
  process.stderr.write(`portcullis: ${err && err.message ? err.message : String(err)}\n`);
  process.exit(1);
});
