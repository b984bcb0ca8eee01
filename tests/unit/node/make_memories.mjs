// Write a `memories` table the way OpenClaw's memory-lancedb plugin does, with its own
// client library (@lancedb/lancedb 0.27.2, the version the last bundled plugin used):
// create the table with a `__schema__` row, delete that row, then store one memory per
// commit (table.add([entry])), so every memory is its own fragment, version and manifest.
//
// usage: node make_memories.mjs <dbPath> <n> <dims>
// prints JSON: {version, total, by_category, probes: [{id, text}], ids}
import { randomUUID } from "node:crypto";
import * as lancedb from "@lancedb/lancedb";

const [dbPath, nArg, dimsArg] = process.argv.slice(2);
const n = Number(nArg ?? 12);
const dims = Number(dimsArg ?? 16);
const CATEGORIES = ["preference", "fact", "decision", "entity", "other"];

// A deterministic pseudo-random generator (mulberry32) for vectors.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const db = await lancedb.connect(dbPath);
const table = await db.createTable("memories", [
  {
    id: "__schema__",
    text: "",
    vector: Array.from({ length: dims }).fill(0),
    importance: 0,
    category: "other",
    createdAt: 0,
    agentId: "",
  },
]);
await table.delete('id = "__schema__"'); // the plugin's own filter text

const rand = rng(42);
const ids = [];
const byCategory = {};
const probes = [];
for (let i = 0; i < n; i++) {
  const entry = {
    id: randomUUID(),
    text: `memory ${i}: the user prefers topic ${i % 7} and works on project ${i % 3}`,
    vector: Array.from({ length: dims }, () => rand() * 2 - 1),
    importance: 0.7,
    category: CATEGORIES[i % CATEGORIES.length],
    createdAt: Date.now(),
    agentId: "main",
  };
  await table.add([entry]); // one memory per commit, as the plugin stores them
  ids.push(entry.id);
  byCategory[entry.category] = (byCategory[entry.category] ?? 0) + 1;
  if (i % 5 === 2) probes.push({ id: entry.id, text: entry.text });
}

console.log(
  JSON.stringify({
    version: await table.version(),
    total: await table.countRows(),
    by_category: byCategory,
    probes,
    ids,
    schema: (await table.schema()).fields.map((f) => `${f.name}:${f.type}`),
  }),
);
