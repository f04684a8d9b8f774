import "./registerVscodeMock";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { beforeEach, describe, it } from "node:test";
import { diagnosticsSnapshot, installTestHook, TEST_OUT_ENV } from "../src/testHook";
import { Diagnostic, DiagnosticSeverity, Range, reset, state, Uri } from "./vscodeMock";

function rh203(): Diagnostic {
  const d = new Diagnostic(new Range(4, 8, 4, 20), "lock held across await", DiagnosticSeverity.Warning);
  d.source = "riskhints";
  d.code = { value: "RH203", target: Uri.parse("https://example.invalid/RH203") };
  return d;
}

describe("test-mode diagnostics file", () => {
  beforeEach(reset);

  it("has the documented shape", () => {
    const snapshot = diagnosticsSnapshot([
      [Uri.file("/w/a.py"), [rh203()]],
      [Uri.file("/w/empty.py"), []],
    ] as never);
    assert.deepEqual(snapshot, [
      {
        uri: "file:///w/a.py",
        diagnostics: [
          {
            code: "RH203",
            source: "riskhints",
            message: "lock held across await",
            severity: "warning",
            range: { start: { line: 4, character: 8 }, end: { line: 4, character: 20 } },
          },
        ],
      },
    ]);
  });

  it("is written at once and on every diagnostics change when the variable is set", () => {
    assert.equal(installTestHook({}), undefined);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "riskhints-hook-"));
    const file = path.join(dir, "diagnostics.json");
    try {
      const hook = installTestHook({ [TEST_OUT_ENV]: file });
      assert.deepEqual(JSON.parse(fs.readFileSync(file, "utf8")), []);
      state.diagnostics = [[Uri.file("/w/a.py"), [rh203()]]];
      state.diagnosticsChanged.fire({});
      const written = JSON.parse(fs.readFileSync(file, "utf8")) as { diagnostics: { code: string }[] }[];
      assert.equal(written[0]?.diagnostics[0]?.code, "RH203");
      hook?.dispose();
      assert.deepEqual(fs.readdirSync(dir), ["diagnostics.json"], "no temp files left behind");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
