import "./registerVscodeMock";
import * as assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import manifest from "../package.json";
import {
  configurationFor,
  explicitSettings,
  EXTENSION_ONLY_KEYS,
  initializationOptions,
  needsRestart,
  serverSettingKeys,
  traceLevel,
} from "../src/settings";
import { reset, state, Uri } from "./vscodeMock";

describe("settings sent to the server", () => {
  beforeEach(reset);
  const keys = serverSettingKeys(manifest);

  it("are the manifest's riskhints.* settings minus the extension's own", () => {
    assert.ok(keys.includes("scope") && keys.includes("debounceMs") && keys.includes("severity"));
    for (const key of EXTENSION_ONLY_KEYS) {
      assert.ok(!keys.includes(key), key);
    }
    assert.ok(keys.every((key) => !key.includes(".")), "no nested keys such as trace.server");
  });

  it("initializationOptions hold only what the user set, never the defaults", () => {
    state.settings.defaults["riskhints.scope"] = "all";
    state.settings.defaults["riskhints.debounceMs"] = 300;
    state.settings.global["riskhints.debounceMs"] = 50;
    state.settings.workspace["riskhints.scope"] = "ai";
    state.settings.workspace["riskhints.interpreter"] = "/usr/bin/python3";
    state.settings.global["riskhints.severity"] = { RH203: "error" };
    assert.deepEqual(initializationOptions(keys), { debounceMs: 50, scope: "ai", severity: { RH203: "error" } });
  });

  it("workspace/configuration answers per folder, with folder values winning", () => {
    const folder = Uri.file("/work/a");
    state.settings.global["riskhints.select"] = ["RH2"];
    state.settings.folders[folder.fsPath] = { "riskhints.select": ["RH1"], "riskhints.cache": false };
    assert.deepEqual(configurationFor(folder.toString(), keys), { select: ["RH1"], cache: false });
    assert.deepEqual(configurationFor(undefined, keys), { select: ["RH2"] });
  });

  it("explicitSettings treats a value equal to the default but set by the user as set", () => {
    const config = {
      get: <T>(key: string) => ({ scope: "all" })[key] as T | undefined,
      inspect: <T>(key: string) => (key === "scope" ? { globalValue: "all" as T } : {}),
    };
    assert.deepEqual(explicitSettings(config, ["scope", "base"]), { scope: "all" });
  });

  it("restart only for the interpreter, the installed-server preference and start-up settings", () => {
    const event = (changed: string) => ({
      affectsConfiguration: (section: string) => section === changed || changed.startsWith(`${section}.`),
    });
    assert.ok(needsRestart(event("riskhints.interpreter")));
    assert.ok(needsRestart(event("riskhints.preferInstalledServer")));
    assert.ok(needsRestart(event("riskhints.diagnosticMode")));
    assert.ok(!needsRestart(event("riskhints.scope")));
    assert.ok(!needsRestart(event("riskhints.trace.server")));
  });

  it("reads the trace level, off unless valid", () => {
    assert.equal(traceLevel(), "off");
    state.settings.global["riskhints.trace.server"] = "verbose";
    assert.equal(traceLevel(), "verbose");
    state.settings.global["riskhints.trace.server"] = "loud";
    assert.equal(traceLevel(), "off");
  });
});
