import "./registerVscodeMock";
import * as assert from "node:assert/strict";
import * as os from "node:os";
import { beforeEach, describe, it } from "node:test";
import { chooseInterpreter, expandInterpreterSetting, PYTHON_EXTENSION_ID, type PythonExtensionApi } from "../src/interpreter";
import { reset, state, Uri } from "./vscodeMock";

function installPythonExtension(api: PythonExtensionApi, isActive = true): { activations: number } {
  const counter = { activations: 0 };
  state.extensions[PYTHON_EXTENSION_ID] = {
    isActive,
    exports: api,
    activate: () => {
      counter.activations += 1;
      return Promise.resolve(api);
    },
  };
  return counter;
}

const environmentsApi = (executable: string | undefined): PythonExtensionApi => ({
  environments: {
    getActiveEnvironmentPath: () => ({ path: "/env" }),
    resolveEnvironment: () =>
      Promise.resolve({ executable: executable === undefined ? {} : { uri: Uri.file(executable) as never } }),
  },
});

describe("interpreter selection", () => {
  beforeEach(reset);

  it("takes the Python extension's interpreter first, activating the extension if needed", async () => {
    const counter = installPythonExtension(environmentsApi("/project/.venv/bin/python"), false);
    state.settings.global["riskhints.interpreter"] = "/usr/bin/python3.12";
    const chosen = await chooseInterpreter(undefined);
    assert.deepEqual(chosen, { command: ["/project/.venv/bin/python"], source: "Python extension" });
    assert.equal(counter.activations, 1);
  });

  it("falls back on the Python extension's older execution-details API", async () => {
    installPythonExtension({
      settings: { getExecutionDetails: () => ({ execCommand: ["conda", "run", "-n", "x", "python"] }) },
    });
    const chosen = await chooseInterpreter(undefined);
    assert.deepEqual(chosen.command, ["conda", "run", "-n", "x", "python"]);
  });

  it("uses riskhints.interpreter when the Python extension has no interpreter", async () => {
    installPythonExtension(environmentsApi(undefined));
    state.settings.global["riskhints.interpreter"] = "/opt/py/bin/python";
    assert.deepEqual(await chooseInterpreter(undefined), {
      command: ["/opt/py/bin/python"],
      source: "riskhints.interpreter",
    });
  });

  it("uses riskhints.interpreter when the Python extension is missing or broken", async () => {
    state.settings.global["riskhints.interpreter"] = "/opt/py/bin/python";
    assert.equal((await chooseInterpreter(undefined)).source, "riskhints.interpreter");
    installPythonExtension({
      environments: {
        getActiveEnvironmentPath: () => {
          throw new Error("not ready");
        },
        resolveEnvironment: () => Promise.resolve(undefined),
      },
    });
    assert.equal((await chooseInterpreter(undefined)).source, "riskhints.interpreter");
  });

  it("ends with python3 on PATH", async () => {
    assert.deepEqual(await chooseInterpreter(undefined), { command: ["python3"], source: "PATH" });
    state.settings.global["riskhints.interpreter"] = "   ";
    assert.equal((await chooseInterpreter(undefined)).source, "PATH");
  });

  it("does not ask the Python extension in an untrusted workspace", async () => {
    installPythonExtension(environmentsApi("/untrusted/.venv/bin/python"));
    state.trusted = false;
    assert.deepEqual(await chooseInterpreter(undefined), { command: ["python3"], source: "PATH" });
  });

  it("reads the setting for the file's folder and expands ${workspaceFolder}", async () => {
    const folder = Uri.file("/work/project");
    state.workspaceFolders = [{ uri: folder, name: "project", index: 0 }];
    state.settings.folders[folder.fsPath] = { "riskhints.interpreter": "${workspaceFolder}/.venv/bin/python" };
    const chosen = await chooseInterpreter(Uri.file("/work/project/app/main.py") as never);
    assert.deepEqual(chosen.command, ["/work/project/.venv/bin/python"]);
  });

  it("expands ~ only at the start", () => {
    assert.equal(expandInterpreterSetting("~/py/bin/python", undefined), `${os.homedir()}/py/bin/python`);
    assert.equal(expandInterpreterSetting("/a/~/python", undefined), "/a/~/python");
  });
});
