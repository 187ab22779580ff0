// The webhook's job as a typical Node service does it, for `scripts/bench-webhook` to
// compare with the Rust service: verify X-Hub-Signature-256 over the raw bytes (constant
// time), parse, route each change by WABA and phone number to the connected organizations,
// store each message and status once per organization (keyed by Meta's identity of it), and
// commit once per delivery with an fsync (SQLite WAL, synchronous=FULL).
//
// usage: PORT=… DB=… APP_SECRET=… ROUTES='[["waba","phone","org"],…]' node server.mjs
import crypto from "node:crypto";
import express from "express";
import Database from "better-sqlite3";

const secret = process.env.APP_SECRET;
const db = new Database(process.env.DB);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.exec(`CREATE TABLE IF NOT EXISTS routes (waba TEXT, phone TEXT, org TEXT, display TEXT, PRIMARY KEY (waba, phone, org));
         CREATE TABLE IF NOT EXISTS events (org TEXT, identity TEXT, kind TEXT, at TEXT, message_id TEXT, sender TEXT,
           recipient TEXT, text TEXT, payload TEXT, received_at INTEGER, PRIMARY KEY (org, identity));
         CREATE INDEX IF NOT EXISTS events_by_time ON events (org, at);`);
const addRoute = db.prepare("INSERT OR IGNORE INTO routes VALUES (?, ?, ?, ?)");
for (const [waba, phone, org, display] of JSON.parse(process.env.ROUTES || "[]")) addRoute.run(waba, phone, org, display || "");
const routesOf = db.prepare("SELECT phone, org, display FROM routes WHERE waba = ?");
const insert = db.prepare("INSERT OR IGNORE INTO events VALUES (@org, @identity, @kind, @at, @message_id, @sender, @recipient, @text, @payload, @received_at)");
const storeAll = db.transaction((events) => {
  let stored = 0;
  for (const event of events) stored += insert.run(event).changes;
  return stored;
});

const app = express();
app.post("/webhook", express.raw({ type: "*/*", limit: "2mb" }), (req, res) => {
  const given = String(req.get("x-hub-signature-256") || "");
  const expected = "sha256=" + crypto.createHmac("sha256", secret).update(req.body).digest("hex");
  if (given.length !== expected.length || !crypto.timingSafeEqual(Buffer.from(given), Buffer.from(expected))) {
    return res.status(401).json({ success: false, code: "unauthorized" });
  }
  let notification;
  try { notification = JSON.parse(req.body.toString("utf8")); } catch { return res.status(400).json({ success: false }); }
  if (!Array.isArray(notification.entry)) return res.status(400).json({ success: false });
  const now = Math.floor(Date.now() / 1000);
  const events = [];
  for (const entry of notification.entry) {
    const routes = routesOf.all(String(entry.id));
    for (const change of entry.changes || []) {
      if (change.field !== "messages" || !change.value) continue;
      const phone = String(change.value.metadata?.phone_number_id);
      const targets = routes.filter((r) => r.phone === phone);
      for (const m of change.value.messages || []) {
        for (const t of targets) {
          const identity = "in#" + m.id;
          events.push({ org: t.org, identity, kind: "message", at: String(m.timestamp).padStart(10, "0") + "#" + identity,
            message_id: m.id, sender: m.from, recipient: t.display, text: m.text?.body ?? null,
            payload: JSON.stringify(m), received_at: now });
        }
      }
      for (const s of change.value.statuses || []) {
        for (const t of targets) {
          const identity = "status#" + s.id + "#" + s.status;
          events.push({ org: t.org, identity, kind: "status", at: String(s.timestamp).padStart(10, "0") + "#" + identity,
            message_id: s.id, sender: t.display, recipient: s.recipient_id, text: null,
            payload: JSON.stringify(s), received_at: now });
        }
      }
    }
  }
  const stored = storeAll(events);
  res.json({ success: true, outcome: { stored, duplicates: events.length - stored } });
});
app.listen(Number(process.env.PORT), "127.0.0.1", () => console.log("listening"));
