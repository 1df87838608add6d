// Shared pieces of the browser tests: a real `tianye` process on a free
// loopback port, Debian's chromium through playwright-core, a tiny PNG.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';

export const CLI = process.env.TIANYE_CLI;
export const FORMS = process.env.TIANYE_FORMS_DIR;
export const ARTIFACTS = process.env.TIANYE_ARTIFACTS || fs.mkdtempSync(path.join(os.tmpdir(), 'tianye-shots-'));
fs.mkdirSync(ARTIFACTS, { recursive: true });

// A store with the shipped forms installed; returns { dir, store, passFile }.
export function makeStore(passphrase) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tianye-ui-'));
  const store = path.join(dir, 'field.db');
  const passFile = path.join(dir, 'pass');
  fs.writeFileSync(passFile, passphrase + '\n');
  execFileSync(CLI, ['init', '--store', store, '--passphrase-file', passFile]);
  execFileSync(CLI, ['forms', 'install', `${FORMS}/toilet.json`, `${FORMS}/housing.json`, `${FORMS}/germplasm.json`,
                     '--store', store, '--passphrase-file', passFile]);
  return { dir, store, passFile };
}

// Starts `tianye ui`; resolves to { proc, url } once it prints its address.
export function startUi(store, extra = []) {
  return new Promise((resolve, reject) => {
    const proc = spawn(CLI, ['ui', '--store', store, '--port', '0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error('tianye ui did not start: ' + out)), 15000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/http:\/\/127\.0\.0\.1:(\d+)\//);
      if (m) { clearTimeout(timer); resolve({ proc, url: m[0] }); }
    });
    proc.stderr.on('data', (d) => { out += d; });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`tianye ui exited (${code}): ${out}`)); });
  });
}

// With TIANYE_TEST_STORE=postgres the servers of a test share one database
// in a throwaway PostgreSQL cluster (initdb in a temporary folder, a free
// port on 127.0.0.1; as root it runs as Debian's postgres user), removed
// when the test process ends.
export const ON_POSTGRES = process.env.TIANYE_TEST_STORE === 'postgres';
let postgresUrl;
function postgres() {
  if (postgresUrl) return postgresUrl;
  const versions = fs.readdirSync('/usr/lib/postgresql').sort((a, b) => Number(a) - Number(b));
  const bin = `/usr/lib/postgresql/${versions.at(-1)}/bin`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tianye-pg-'));
  const root = process.getuid() === 0;
  if (root) execFileSync('chown', ['postgres:', dir]);
  const asOwner = (argv) => execFileSync(root ? 'runuser' : argv[0], root ? ['-u', 'postgres', '--', ...argv] : argv.slice(1),
                                         { stdio: ['ignore', 'pipe', 'pipe'] });
  const data = path.join(dir, 'data');
  asOwner([bin + '/initdb', '-D', data, '-U', 'tianye', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
  process.on('exit', () => {
    try { asOwner([bin + '/pg_ctl', '-D', data, '-m', 'immediate', '-w', 'stop']); } catch { /* not running */ }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  for (let attempt = 0; ; ++attempt) {  // a port another process takes first: try another
    const port = 20000 + Math.floor(Math.random() * 20000);
    try {
      asOwner([bin + '/pg_ctl', '-D', data, '-l', path.join(dir, 'log'), '-w', '-o',
               `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
    } catch (e) {
      if (attempt < 5) continue;
      throw new Error('PostgreSQL did not start: ' + fs.readFileSync(path.join(dir, 'log'), 'utf8'));
    }
    execFileSync(bin + '/createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'tianye', 'tianye']);
    postgresUrl = `postgresql://tianye@127.0.0.1:${port}/tianye`;
    return postgresUrl;
  }
}
// The server's --store arguments for this test run ([] for the default
// SQLCipher file in the data folder).
const storeArgs = () => (ON_POSTGRES ? ['--store', postgres()] : []);

// Starts `tianye-server serve` on a free loopback port with the shipped
// forms; resolves to { proc, url, pin } (pin: for HTTPS, else undefined).
export function startServer(dataDir, extra = []) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.env.TIANYE_SERVER,
                       ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--forms', FORMS, ...storeArgs(),
                        ...extra],
                       { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error('tianye-server did not start: ' + out)), 20000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (https?:\/\/127\.0\.0\.1:\d+)\//);
      if (m) { clearTimeout(timer); resolve({ proc, url: m[1], pin: out.match(/pin (sha256\/\/\S+)/)?.[1] }); }
    });
    proc.stderr.on('data', (d) => { out += d; });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`tianye-server exited (${code}): ${out}`)); });
  });
}

// Adds server users with `tianye-server user add`: [name, role, area] each,
// with the password `<name>-password` (what serverApi's login sends).
export function addUsers(dataDir, users) {
  for (const [name, role, area] of users) {
    execFileSync(process.env.TIANYE_SERVER,
                 ['user', 'add', name, '--role', role, '--area', area, '--data-dir', dataDir, ...storeArgs()],
                 { env: { ...process.env, TIANYE_USER_PASSWORD: name + '-password' } });
  }
}

// The server's API at `url`, as another tool or device would call it. Users
// log in with the password `<name>-password` from the device `api-<name>`.
export function serverApi(url) {
  async function call(method, target, token, body) {
    const r = await fetch(url + target, {
      method, headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: 'Bearer ' + token } : {}) },
      body: body ? JSON.stringify(body) : undefined });
    return { status: r.status, json: await r.json() };
  }
  async function login(username) {
    const r = await call('POST', '/v1/login', null, { username, password: username + '-password', device_id: 'api-' + username });
    if (r.status !== 200) throw new Error(`login of ${username}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json.token;
  }
  // Pushes `values` (field -> value) of a toilet record as `user`'s device,
  // which last saw the fields at `bases` (field -> version). Each op's outcome.
  const pushSeq = {};
  async function pushAs(user, record, bases, values, form = 'toilet') {
    const hlc = (BigInt(Date.now()) << 16n).toString();
    const ops = Object.entries(values).map(([field, value]) => {
      pushSeq[user] = (pushSeq[user] || 0) + 1;
      return { push_seq: pushSeq[user], txn: pushSeq[user], record, field, value, base: bases[field] ?? 0, hlc,
               form, form_version: '2026.1' };
    });
    const r = await call('POST', '/v1/sync/push', await login(user), { protocol: 1, device_id: 'api-' + user, ops });
    if (r.status !== 200) throw new Error(`push of ${user}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json.outcomes.map((o) => o.outcome);
  }
  return { call, login, pushAs };
}

export function stop(proc, signal = 'SIGTERM') {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.removeAllListeners('exit');
    proc.once('exit', () => resolve());
    proc.kill(signal);
  });
}

export async function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// A page of `options` (DESKTOP or PHONE) on the server's review site at
// `url`, logged in as `user` (password `<user>-password`), its queue shown.
export async function reviewPage(browser, url, options, user) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  await page.goto(url + '/');
  await page.fill('#login-user', user);
  await page.fill('#login-password', user + '-password');
  await page.click('#login-go');
  await page.waitForSelector('#queue');
  return { context, page };
}

export const PHONE = {
  viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true,
  locale: 'zh-CN', timezoneId: 'Asia/Shanghai',
  geolocation: { latitude: 39.563, longitude: 113.186, accuracy: 8 }, permissions: ['geolocation'],
  userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36',
};
export const DESKTOP = { viewport: { width: 1280, height: 900 }, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' };

// A valid w x h RGB PNG, made here (no image package needed).
export function png(w = 4, h = 3) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => { let c = 0xffffffff; for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2;
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set([x * 60, y * 80, 200], y * (w * 3 + 1) + 1 + x * 3);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
                        chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
