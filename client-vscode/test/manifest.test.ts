/** package.json against the server: settings from its model, version, workspace trust. */
import "./registerVscodeMock";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import manifest from "../package.json";
import { checkManifest, loadModel, type ModelEntry, modelPython, REPO_ROOT } from "../tools/settingsModel";

function tryLoadModel(): ModelEntry[] | string {
  try {
    return loadModel();
  } catch (error) {
    return `cannot run \`riskhints settings --format json\` with ${modelPython()}: ${String(error)}`;
  }
}

describe("package.json", () => {
  const model = tryLoadModel();
  const skip = typeof model === "string" && process.env.CI !== "true" ? model : false;

  it("contributes riskhints.<camelKey> for every server setting, with its type and default", { skip }, () => {
    assert.ok(Array.isArray(model), typeof model === "string" ? model : "");
    assert.deepEqual(checkManifest(manifest, model), [], "run `npm run settings:write`");
  });

  it("the check catches drift", { skip }, () => {
    assert.ok(Array.isArray(model), typeof model === "string" ? model : "");
    const drifted = structuredClone(manifest) as unknown as {
      contributes: { configuration: { properties: Record<string, Record<string, unknown>> } };
    };
    const properties = drifted.contributes.configuration.properties;
    properties["riskhints.debounceMs"]!.default = 250;
    delete properties["riskhints.scope"];
    delete properties["riskhints.interpreter"];
    properties["riskhints.retired"] = { type: "string" };
    const problems = checkManifest(drifted, model).join("\n");
    assert.match(problems, /riskhints\.debounceMs\.default is 250, the model says 300/);
    assert.match(problems, /riskhints\.scope is missing/);
    assert.match(problems, /riskhints\.interpreter \(read by the extension\) is missing/);
    assert.match(problems, /riskhints\.retired is in package\.json but not in the server's settings model/);
  });

  it("has the Python package's version", () => {
    const pyproject = fs.readFileSync(path.join(REPO_ROOT, "pyproject.toml"), "utf8");
    assert.equal(/^version = "([^"]+)"/m.exec(pyproject)?.[1], manifest.version);
  });

  it("limits untrusted workspaces and restricts riskhints.interpreter", () => {
    const trust = manifest.capabilities.untrustedWorkspaces;
    assert.equal(trust.supported, "limited");
    assert.deepEqual(trust.restrictedConfigurations, ["riskhints.interpreter"]);
  });
});
