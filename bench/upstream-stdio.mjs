// A raw stdio JSON-RPC echo "MCP server" (newline-delimited JSON on stdin/stdout), the stdio
// counterpart of upstream-echo.mjs, for `npm run bench:compare -- <rev> stdio`. The gateway
// spawns it per MCP session.
import { createInterface } from 'node:readline';
import { answer } from './echo-answer.mjs';

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
let out = '';
let scheduled = false;
const flush = () => {
  scheduled = false;
  const s = out;
  out = '';
  process.stdout.write(s);
};
rl.on('line', (line) => {
  if (!line.trim()) return;
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    return;
  }
  const replies = (Array.isArray(msg) ? msg : [msg]).map(answer).filter(Boolean);
  for (const r of replies) out += JSON.stringify(r) + '\n';
  // Replies to the lines of one read go out in one write.
  if (out && !scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
});
rl.on('close', () => process.exit(0));
