// What every part of the JavaScript SDK suite shares: the client configuration, the step runner,
// error and wait helpers, a small zip writer (for Lambda code), and the state handed from `write`
// to `check` across the restart.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { deflateRawSync } from "node:zlib";

export const ACCOUNT = "000000000000";
export const REGION = "us-east-1";

export function clientConfig(endpoint) {
  return {
    endpoint,
    region: REGION,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  };
}

/** Runs named steps; the first failure ends the process with the step's name and the error. */
export class Runner {
  constructor(phase) {
    this.phase = phase;
    this.steps = 0;
    this.times = new Map();
  }

  async step(name, fn) {
    const start = process.hrtime.bigint();
    try {
      await fn();
      this.steps += 1;
    } catch (e) {
      console.error(`FAILED ${this.phase} ${name}:`, e);
      process.exit(1);
    }
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const service = name.split(" ")[0];
    this.times.set(service, (this.times.get(service) ?? 0) + ms);
  }

  summary() {
    const per = [...this.times].map(([s, ms]) => `${s} ${(ms / 1000).toFixed(2)}s`).join(", ");
    return `js ${this.phase}: ${this.steps} steps ok (${per})`;
  }
}

/** The call must fail with AWS's error code `code` (the SDK's error `name`); returns the error. */
export async function expectError(code, promise, status) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected ${code}, the call succeeded`);
  assert.equal(err.name, code, `expected ${code}, got ${err.name}: ${err.message}`);
  if (status !== undefined) {
    assert.equal(err.$metadata?.httpStatusCode, status, `${code}: HTTP status`);
  }
  assert.ok(err.$metadata?.requestId, `${code}: a request id`);
  return err;
}

/** Polls `fn` until it returns a truthy value (or throws past the deadline). */
export async function waitFor(what, fn, timeoutMs = 60000, everyMs = 200) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const utf8 = (s) => new TextEncoder().encode(s);
export const text = (b) => Buffer.from(b).toString("utf8");

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A zip archive (deflated entries, mode 0755) of `{ name: text }`. */
export function zipOf(files) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, body] of Object.entries(files)) {
    const nameBuf = Buffer.from(name, "utf8");
    const data = Buffer.from(body, "utf8");
    const packed = deflateRawSync(data);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(0x21, 12); // date: 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x0314, 4); // made by: Unix, 2.0
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28);
    central.writeUInt32LE(((0o100755 << 16) >>> 0) >>> 0, 38); // external attributes
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBuf, packed);
    centrals.push(central, nameBuf);
    offset += local.length + nameBuf.length + packed.length;
  }
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  const count = Object.keys(files).length;
  end.writeUInt16LE(count, 8);
  end.writeUInt16LE(count, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

/** What `write` leaves for `check` (ciphertexts, ARNs), in a JSON file beside the test. */
export class State {
  constructor(path) {
    this.path = path;
    this.values = {};
  }

  load() {
    this.values = JSON.parse(readFileSync(this.path, "utf8"));
    return this;
  }

  set(key, value) {
    this.values[key] = value;
    writeFileSync(this.path, JSON.stringify(this.values));
  }

  get(key) {
    assert.ok(key in this.values, `state ${key} left by write`);
    return this.values[key];
  }
}
