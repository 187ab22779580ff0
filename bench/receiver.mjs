// An event endpoint for scripts/bench-webhook: answers every POST 204 at once and counts
// them; GET / answers {count, first, last} (milliseconds since it started).
import { createServer } from "node:http";
import { performance } from "node:perf_hooks";

let count = 0, first = null, last = null;
createServer((req, res) => {
  if (req.method === "GET") {
    res.setHeader("content-type", "application/json");
    return res.end(JSON.stringify({ count, first, last }));
  }
  req.resume();
  req.on("end", () => {
    count += 1;
    last = performance.now();
    first ??= last;
    res.statusCode = 204;
    res.end();
  });
}).listen(Number(process.argv[2]), "127.0.0.1");
