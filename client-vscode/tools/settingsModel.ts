/**
 * The manifest's server settings come from the server's settings model
 * (`riskhints settings --format json`, server/riskhints/config.py): `--write` regenerates them in
 * package.json, and `checkManifest` (run by `npm test`) fails when the two drift.
 *
 *   npm run settings:write    # after changing the model
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export const EXTENSION_ROOT = path.resolve(__dirname, "..", "..");
export const REPO_ROOT = path.resolve(EXTENSION_ROOT, "..");
const MANIFEST = path.join(EXTENSION_ROOT, "package.json");

export interface ModelEntry {
  name: string;
  pyproject: string;
  editor: string;
  type: "array" | "object" | "boolean" | "integer" | "string";
  default: unknown;
  kind: string;
  description: string;
  enum?: string[];
}

/** Settings the extension itself reads (interpreter choice, tracing): not in the model. */
export const EXTENSION_ONLY = ["riskhints.interpreter", "riskhints.preferInstalledServer", "riskhints.trace.server"];

const SEVERITIES = ["error", "warning", "info", "hint"];

/** A Python that can import riskhints' dependencies: RISKHINTS_PYTHON, the repo's venv, python3. */
export function modelPython(): string {
  const fromEnv = process.env.RISKHINTS_PYTHON;
  if (fromEnv) {
    return fromEnv;
  }
  const venv = path.join(REPO_ROOT, ".venv", "bin", "python");
  return fs.existsSync(venv) ? venv : "python3";
}

/** The model, from the working copy's server sources (not whatever riskhints is installed). */
export function loadModel(python = modelPython()): ModelEntry[] {
  const paths = [path.join(REPO_ROOT, "server"), path.join(EXTENSION_ROOT, "bundled", "libs")];
  const existing = process.env.PYTHONPATH;
  const stdout = execFileSync(python, ["-m", "riskhints", "settings", "--format", "json"], {
    cwd: REPO_ROOT,
    env: { ...process.env, PYTHONPATH: [...paths, ...(existing ? [existing] : [])].join(path.delimiter) },
    encoding: "utf8",
  });
  return JSON.parse(stdout) as ModelEntry[];
}

function sentence(text: string): string {
  const trimmed = text.trim();
  return trimmed.charAt(0).toUpperCase() + trimmed.slice(1) + (trimmed.endsWith(".") ? "" : ".");
}

export function manifestProperty(entry: ModelEntry): Record<string, unknown> {
  const property: Record<string, unknown> = {
    type: entry.type,
    default: entry.default,
    markdownDescription:
      `${sentence(entry.description)} ${sentence(entry.kind)} ` +
      `Same as \`${entry.pyproject}\` in \`[tool.riskhints]\`, which this setting overrides.`,
    scope: entry.name === "diagnostic_mode" ? "window" : "resource",
  };
  if (entry.enum !== undefined) {
    property.enum = entry.enum;
  }
  if (entry.type === "array") {
    property.items = { type: "string" };
  }
  if (entry.type === "object") {
    property.additionalProperties = { type: "string", enum: SEVERITIES };
  }
  return property;
}

export function expectedServerProperties(model: readonly ModelEntry[]): Record<string, Record<string, unknown>> {
  return Object.fromEntries(model.map((entry) => [`riskhints.${entry.editor}`, manifestProperty(entry)]));
}

interface Manifest {
  contributes: { configuration: { properties: Record<string, Record<string, unknown>> } };
}

/** Every difference between the manifest's settings and the model, as readable lines. */
export function checkManifest(manifest: unknown, model: readonly ModelEntry[]): string[] {
  const properties = (manifest as Manifest).contributes.configuration.properties;
  const expected = expectedServerProperties(model);
  const problems: string[] = [];
  for (const [key, property] of Object.entries(expected)) {
    const actual = properties[key];
    if (actual === undefined) {
      problems.push(`${key} is missing from package.json`);
      continue;
    }
    for (const field of new Set([...Object.keys(property), ...Object.keys(actual)])) {
      if (JSON.stringify(actual[field]) !== JSON.stringify(property[field])) {
        problems.push(
          `${key}.${field} is ${JSON.stringify(actual[field])}, the model says ${JSON.stringify(property[field])}`,
        );
      }
    }
  }
  for (const key of Object.keys(properties)) {
    if (!(key in expected) && !EXTENSION_ONLY.includes(key)) {
      problems.push(`${key} is in package.json but not in the server's settings model`);
    }
  }
  for (const key of EXTENSION_ONLY) {
    if (!(key in properties)) {
      problems.push(`${key} (read by the extension) is missing from package.json`);
    }
  }
  return problems;
}

export function writeManifest(model: readonly ModelEntry[]): void {
  const manifest = JSON.parse(fs.readFileSync(MANIFEST, "utf8")) as Manifest;
  const current = manifest.contributes.configuration.properties;
  const properties: Record<string, Record<string, unknown>> = {};
  for (const key of EXTENSION_ONLY) {
    const property = current[key];
    if (property !== undefined) {
      properties[key] = property;
    }
  }
  Object.assign(properties, expectedServerProperties(model));
  manifest.contributes.configuration.properties = properties;
  fs.writeFileSync(MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);
}

if (require.main === module) {
  const model = loadModel();
  if (process.argv.includes("--write")) {
    writeManifest(model);
  } else {
    const problems = checkManifest(JSON.parse(fs.readFileSync(MANIFEST, "utf8")), model);
    process.stdout.write(problems.length ? `${problems.join("\n")}\n` : "package.json settings match the model\n");
    process.exitCode = problems.length ? 1 : 0;
  }
}
