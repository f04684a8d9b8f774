/**
 * Test mode: with RISKHINTS_VSCODE_TEST_OUT set, every `onDidChangeDiagnostics` writes what
 * VS Code holds (`vscode.languages.getDiagnostics()`, every source) to that file, so an
 * end-to-end test can assert on the editor's state rather than only on the DOM.
 *
 * The file's JSON shape (written atomically: a temp file renamed over it):
 *   [{ "uri": "file:///...",
 *      "diagnostics": [{ "code": "RH203" | null, "source": "riskhints" | null,
 *                        "message": "...",
 *                        "severity": "error" | "warning" | "information" | "hint",
 *                        "range": { "start": { "line": 0, "character": 0 },
 *                                   "end": { "line": 0, "character": 0 } } }] }]
 * Lines and characters are 0-based, characters in UTF-16 code units (VS Code's positions).
 * URIs with no diagnostics left are omitted.
 */
import * as fs from "node:fs";
import * as vscode from "vscode";

export const TEST_OUT_ENV = "RISKHINTS_VSCODE_TEST_OUT";

export interface DiagnosticJson {
  code: string | null;
  source: string | null;
  message: string;
  severity: "error" | "warning" | "information" | "hint";
  range: {
    start: { line: number; character: number };
    end: { line: number; character: number };
  };
}

export interface UriDiagnosticsJson {
  uri: string;
  diagnostics: DiagnosticJson[];
}

const SEVERITIES = ["error", "warning", "information", "hint"] as const;

function codeText(code: vscode.Diagnostic["code"]): string | null {
  if (code === undefined) {
    return null;
  }
  return typeof code === "object" ? String(code.value) : String(code);
}

export function diagnosticsSnapshot(
  all: ReadonlyArray<readonly [vscode.Uri, readonly vscode.Diagnostic[]]>,
): UriDiagnosticsJson[] {
  return all
    .filter(([, diagnostics]) => diagnostics.length > 0)
    .map(([uri, diagnostics]) => ({
      uri: uri.toString(),
      diagnostics: diagnostics.map((d) => ({
        code: codeText(d.code),
        source: d.source ?? null,
        message: d.message,
        severity: SEVERITIES[d.severity] ?? "error",
        range: {
          start: { line: d.range.start.line, character: d.range.start.character },
          end: { line: d.range.end.line, character: d.range.end.character },
        },
      })),
    }));
}

export function writeSnapshot(file: string): void {
  const snapshot = diagnosticsSnapshot(vscode.languages.getDiagnostics());
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, JSON.stringify(snapshot, null, 2));
  fs.renameSync(temp, file);
}

/** Installs the hook when the environment asks for it; returns undefined otherwise. */
export function installTestHook(env: NodeJS.ProcessEnv): vscode.Disposable | undefined {
  const file = env[TEST_OUT_ENV];
  if (!file) {
    return undefined;
  }
  writeSnapshot(file); // an empty list at once: the test knows the extension is active
  return vscode.languages.onDidChangeDiagnostics(() => writeSnapshot(file));
}
