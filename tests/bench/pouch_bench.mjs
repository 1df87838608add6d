// The peer for the sync benchmark: the same number of realistic records
// (about 20 fields, ~450 bytes) replicated by PouchDB into pouchdb-server
// (in memory) on 127.0.0.1, then pulled into a fresh PouchDB. Prints RESULT
// lines that scripts/bench compares with ours.
//
// Usage: node pouch_bench.mjs N   (PEER_DIR: where pouchdb-server and pouchdb are installed)
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const n = Number(process.argv[2] || 10000);
const peerDir = path.resolve(process.env.PEER_DIR);
const require = createRequire(path.join(peerDir, 'package.json'));
const PouchDB = require('pouchdb');
PouchDB.plugin(require('pouchdb-adapter-memory'));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

function values(i) {
  const names = ['张德明', '李秀英', '王建国', '刘桂兰', '赵志刚', '陈玉梅'];
  const remarks = ['化粪池盖板破损，冬季有冻裂风险', '厕屋无门，需整改', '使用正常，卫生状况良好'];
  return {
    _id: 'rec-' + String(i).padStart(8, '0'), form: 'toilet', form_version: '2026.1', county: '140623000000',
    visit_type: 'first', hh_no: String(i), hh_head_name: names[i % 6], hh_members: String(1 + (i % 7)),
    occupancy: 'resident', has_toilet: 'yes', toilet_location: 'in_yard', toilet_type: 'three_compartment',
    build_year: String(2018 + (i % 8)), subsidy: String(i % 3000), cover: 'intact', water: i % 2 ? 'yes' : 'no',
    odor: 'none', flies: 'few', cleaning: 'monthly', usage: 'in_use', satisfied: 'yes',
    gps: '39.5612 113.1843 1046 4.8', remark: remarks[i % 3], phone: '139' + String(10000000 + i),
  };
}

async function waitUp(url) {
  for (let i = 0; i < 200; i++) {
    try { const r = await fetch(url); if (r.ok) return; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('pouchdb-server did not start');
}

const port = await freePort();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pouch-bench-'));
const bin = path.join(peerDir, 'node_modules', 'pouchdb-server', 'bin', 'pouchdb-server');
const server = spawn(process.execPath, [bin, '--in-memory', '--host', '127.0.0.1', '--port', String(port),
                                        '--dir', work, '--config', path.join(work, 'config.json')],
                     { cwd: work, stdio: ['ignore', 'ignore', 'ignore'] });
const url = `http://127.0.0.1:${port}`;
try {
  await waitUp(url + '/');
  const local = new PouchDB('local', { adapter: 'memory' });
  for (let i = 0; i < n; i += 1000) {
    const docs = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) docs.push(values(j));
    await local.bulkDocs(docs);
  }
  let t0 = process.hrtime.bigint();
  await local.replicate.to(url + '/bench', { batch_size: 500 });
  let s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`  PouchDB push into pouchdb-server: ${(n / s).toFixed(1)} records/s (${s.toFixed(2)} s)`);
  console.log(`RESULT pouch_push_records_per_s=${n}:${(n / s).toFixed(1)}`);
  const fresh = new PouchDB('fresh', { adapter: 'memory' });
  t0 = process.hrtime.bigint();
  await fresh.replicate.from(url + '/bench', { batch_size: 500 });
  s = Number(process.hrtime.bigint() - t0) / 1e9;
  const info = await fresh.info();
  console.log(`  PouchDB pull into a fresh PouchDB: ${(n / s).toFixed(1)} records/s (${info.doc_count} docs)`);
  console.log(`RESULT pouch_pull_records_per_s=${n}:${(n / s).toFixed(1)}`);
} finally {
  server.kill('SIGTERM');
  fs.rmSync(work, { recursive: true, force: true });
}
