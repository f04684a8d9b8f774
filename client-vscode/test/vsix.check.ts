/**
 * The packaged extension (`npm run package`, then `npm run test:vsix`): the .vsix is a zip; its
 * central directory lists what VS Code will install. Under CI=true a missing .vsix fails.
 */
import * as assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as zlib from "node:zlib";
import { type BundleInfo, serverPlan } from "../src/launch";
import { EXTENSION_ROOT } from "../tools/settingsModel";

interface Entry {
  name: string;
  method: number;
  compressedSize: number;
  localHeader: number;
}

/** The zip's entries, from its end-of-central-directory record (no zip64: a .vsix is small). */
export function zipEntries(zip: Buffer): Entry[] {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(eocd >= 0, "not a zip archive");
  const count = zip.readUInt16LE(eocd + 10);
  let offset = zip.readUInt32LE(eocd + 16);
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    assert.equal(zip.readUInt32LE(offset), 0x02014b50, "bad central directory entry");
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    entries.push({
      name: zip.toString("utf8", offset + 46, offset + 46 + nameLength),
      method: zip.readUInt16LE(offset + 10),
      compressedSize: zip.readUInt32LE(offset + 20),
      localHeader: zip.readUInt32LE(offset + 42),
    });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

export function readEntry(zip: Buffer, entry: Entry): Buffer {
  const header = entry.localHeader;
  const start = header + 30 + zip.readUInt16LE(header + 26) + zip.readUInt16LE(header + 28);
  const data = zip.subarray(start, start + entry.compressedSize);
  return entry.method === 8 ? zlib.inflateRawSync(data) : Buffer.from(data);
}

const manifest = JSON.parse(fs.readFileSync(path.join(EXTENSION_ROOT, "package.json"), "utf8")) as {
  name: string;
  version: string;
};
const vsix = path.join(EXTENSION_ROOT, `${manifest.name}-${manifest.version}.vsix`);
const missing = !fs.existsSync(vsix);
const skip = missing && process.env.CI !== "true" ? `${path.basename(vsix)} not built: npm run package` : false;

describe("the .vsix", { skip }, () => {
  it("holds the bundle, the bundled server and its dependencies, and no node_modules", () => {
    assert.ok(!missing, `${vsix} is missing: npm run package`);
    const zip = fs.readFileSync(vsix);
    const entries = zipEntries(zip);
    const names = new Set(entries.map((e) => e.name));
    for (const required of [
      "extension/package.json",
      "extension/dist/extension.js",
      "extension/bundled/bundle.json",
      "extension/bundled/libs/riskhints/__init__.py",
      "extension/bundled/libs/riskhints/__main__.py",
      "extension/bundled/libs/riskhints/lsp/server.py",
      "extension/bundled/libs/pygls/__init__.py",
      "extension/bundled/libs/lsprotocol/types.py",
      "extension/bundled/libs/libcst/__init__.py",
    ]) {
      assert.ok(names.has(required), `${required} is not in the .vsix`);
    }
    const unwanted = [...names].filter(
      (name) =>
        name.includes("node_modules/") ||
        name.startsWith("extension/src/") ||
        name.startsWith("extension/test/") ||
        name.startsWith("extension/e2e/") ||
        name.includes("__pycache__/") ||
        name.startsWith("extension/bundled/libs/bin/"),
    );
    assert.deepEqual(unwanted, []);

    const packed = entries.find((e) => e.name === "extension/package.json");
    assert.ok(packed !== undefined);
    const packedManifest = JSON.parse(readEntry(zip, packed).toString("utf8")) as { version: string; main: string };
    assert.equal(packedManifest.version, manifest.version);
    assert.equal(packedManifest.main, "./dist/extension.js");
    const bundle = entries.find((e) => e.name === "extension/bundled/bundle.json");
    assert.ok(bundle !== undefined);
    assert.equal((JSON.parse(readEntry(zip, bundle).toString("utf8")) as { riskhints: string }).riskhints, manifest.version);
  });
});

/** One LSP message on the server's stdin, one parsed reply off its stdout. */
function lspSession(child: ReturnType<typeof spawn>): {
  send(message: object): void;
  next(): Promise<{ id?: number; result?: unknown }>;
} {
  let buffer = Buffer.alloc(0);
  const waiting: ((message: { id?: number; result?: unknown }) => void)[] = [];
  const queue: { id?: number; result?: unknown }[] = [];
  child.stdout?.on("data", (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const end = buffer.indexOf("\r\n\r\n");
      const length = /Content-Length: (\d+)/i.exec(buffer.subarray(0, Math.max(end, 0)).toString())?.[1];
      if (end < 0 || length === undefined || buffer.length < end + 4 + Number(length)) {
        return;
      }
      const body = JSON.parse(buffer.subarray(end + 4, end + 4 + Number(length)).toString("utf8")) as {
        id?: number;
        result?: unknown;
      };
      buffer = buffer.subarray(end + 4 + Number(length));
      const waiter = waiting.shift();
      if (waiter) {
        waiter(body);
      } else {
        queue.push(body);
      }
    }
  });
  return {
    send(message) {
      const body = Buffer.from(JSON.stringify({ jsonrpc: "2.0", ...message }), "utf8");
      child.stdin?.write(`Content-Length: ${body.length}\r\n\r\n`);
      child.stdin?.write(body);
    },
    next() {
      const queued = queue.shift();
      return queued ? Promise.resolve(queued) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

describe("the bundled server", () => {
  const libs = path.join(EXTENSION_ROOT, "bundled", "libs");
  const info = path.join(EXTENSION_ROOT, "bundled", "bundle.json");
  let reason: string | false = false;
  let python = "python3";
  if (!fs.existsSync(info)) {
    reason = "bundled/ not built: npm run package";
  } else {
    // A Python without riskhints' dependencies (Debian's python3 in CI): only bundled/libs serves.
    const wanted = (JSON.parse(fs.readFileSync(info, "utf8")) as BundleInfo).python;
    python = process.env.RISKHINTS_BARE_PYTHON ?? "python3";
    try {
      const version = execFileSync(python, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], {
        encoding: "utf8",
      }).trim();
      if (version !== wanted) {
        reason = `${python} is Python ${version}, the bundle is for ${wanted}`;
      }
    } catch {
      reason = `no ${python}`;
    }
  }
  const skip = reason !== false && process.env.CI !== "true" ? reason : false;

  it("starts from bundled/libs alone and answers initialize", { skip, timeout: 60_000 }, async () => {
    assert.equal(reason, false, String(reason));
    const plan = serverPlan(
      { interpreter: [python], useBundled: true, bundledLibs: libs, baseEnv: { PATH: process.env.PATH ?? "" } },
      "off",
      EXTENSION_ROOT,
    );
    const child = spawn(plan.command, [...plan.args], { cwd: plan.cwd, env: { ...plan.env, PYTHONNOUSERSITE: "1" } });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      const lsp = lspSession(child);
      lsp.send({ id: 1, method: "initialize", params: { processId: null, rootUri: null, capabilities: {} } });
      const reply = await lsp.next();
      assert.equal(reply.id, 1, stderr);
      const capabilities = (reply.result as { capabilities: { executeCommandProvider?: { commands: string[] } } })
        .capabilities;
      assert.ok(capabilities.executeCommandProvider?.commands.includes("riskhints.assumptionsPrompt"), stderr);
      lsp.send({ method: "initialized", params: {} });
      lsp.send({ id: 2, method: "shutdown" });
      assert.equal((await lsp.next()).id, 2);
      lsp.send({ method: "exit" });
      const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
      assert.equal(code, 0, stderr);
    } finally {
      child.kill();
    }
  });
});
