import "./registerVscodeMock";
import * as assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import manifest from "../package.json";
import {
  CHAT_OPEN,
  COMMANDS,
  copyAssumptionsPrompt,
  insertStressTest,
  type Runner,
  SERVER_COMMANDS,
  type Server,
  showFailureReport,
} from "../src/commands";
import { BOOTSTRAP } from "../src/launch";
import { reset, state, Uri } from "./vscodeMock";

interface Call {
  command: string;
  args: unknown[];
}

function fakeServer(answer: unknown): Server & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    launch: { interpreter: ["/usr/bin/python3"], useBundled: true, bundledLibs: "/ext/bundled/libs", baseEnv: {} },
    executeCommand: (command: string, args: unknown[]) => {
      calls.push({ command, args });
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
  };
}

function openPython(file: string, line: number, isDirty = false): { saved: number } {
  const counter = { saved: 0 };
  state.activeTextEditor = {
    document: {
      uri: Uri.file(file),
      languageId: "python",
      isDirty,
      save: () => {
        counter.saved += 1;
        return Promise.resolve(true);
      },
    },
    selection: { active: { line, character: 0 } },
  };
  return counter;
}

describe("Copy assumptions prompt", () => {
  beforeEach(reset);

  it("asks the server for the cursor's function and copies the text", async () => {
    openPython("/w/app.py", 11);
    const server = fakeServer("Before you change fetch_all, answer...");
    assert.equal(await copyAssumptionsPrompt(server), "Before you change fetch_all, answer...");
    assert.deepEqual(server.calls, [{ command: SERVER_COMMANDS.assumptionsPrompt, args: ["file:///w/app.py", 11] }]);
    assert.equal(state.clipboard, "Before you change fetch_all, answer...");
    assert.deepEqual(state.messages.at(-1)?.items, [], "no chat view, no chat offer");
  });

  it("offers the chat view when there is one and fills it in when chosen", async () => {
    openPython("/w/app.py", 0);
    state.commandsAvailable = [CHAT_OPEN];
    state.answer = "Open in Chat";
    await copyAssumptionsPrompt(fakeServer("prompt"));
    assert.deepEqual(state.messages.at(-1)?.items, ["Open in Chat"]);
    assert.deepEqual(state.executed, [{ command: CHAT_OPEN, args: [{ query: "prompt", isPartialQuery: true }] }]);
  });

  it("says why when the server has no prompt, and needs a Python editor", async () => {
    openPython("/w/app.py", 0);
    assert.equal(await copyAssumptionsPrompt(fakeServer(new Error("no function at line 1"))), undefined);
    assert.match(state.messages.at(-1)?.text ?? "", /no function at line 1/);
    assert.equal(state.clipboard, "");
    state.activeTextEditor = undefined;
    const server = fakeServer("x");
    assert.equal(await copyAssumptionsPrompt(server), undefined);
    assert.equal(server.calls.length, 0);
  });
});

describe("Insert stress test", () => {
  beforeEach(reset);

  it("saves the file, then asks the server for the cursor's function", async () => {
    const counter = openPython("/w/app.py", 7, true);
    const server = fakeServer({ path: "tests/stress/test_app_stress.py", test: "test_fetch_all_stress" });
    await insertStressTest(server);
    assert.equal(counter.saved, 1);
    assert.deepEqual(server.calls, [{ command: SERVER_COMMANDS.insertStressTest, args: ["file:///w/app.py", 7] }]);
    assert.match(state.messages.at(-1)?.text ?? "", /test_fetch_all_stress in tests\/stress\/test_app_stress\.py/);
  });
});

describe("Show failure report", () => {
  beforeEach(reset);

  it("runs the CLI in the workspace folder and opens the markdown", async () => {
    const folder = Uri.file("/w");
    state.workspaceFolders = [{ uri: folder, name: "w", index: 0 }];
    const plans: Parameters<Runner>[0][] = [];
    const runner: Runner = (plan) => {
      plans.push(plan);
      return Promise.resolve({ stdout: "# AI failures\n", stderr: "" });
    };
    assert.equal(await showFailureReport(fakeServer(null), runner), "# AI failures\n");
    assert.equal(plans[0]?.cwd, "/w");
    assert.deepEqual(plans[0]?.args, ["-c", BOOTSTRAP, "failures", "report", "--format", "markdown"]);
    assert.equal(plans[0]?.env.PYTHONPATH, "/ext/bundled/libs");
    assert.deepEqual(state.openedDocuments, [{ language: "markdown", content: "# AI failures\n" }]);
    assert.equal(state.executed[0]?.command, "markdown.showPreview");
  });

  it("needs a folder", async () => {
    assert.equal(await showFailureReport(fakeServer(null), () => Promise.reject(new Error("ran"))), undefined);
    assert.match(state.messages.at(-1)?.text ?? "", /open a folder/);
  });
});

describe("manifest commands", () => {
  it("contributes every command the extension registers, none clashing with the server's", () => {
    const contributed = manifest.contributes.commands.map((c) => c.command).sort();
    assert.deepEqual(contributed, Object.values(COMMANDS).sort());
    for (const command of [...Object.values(SERVER_COMMANDS), "riskhints.logFailure", "riskhints.insertChecklist"]) {
      assert.ok(!contributed.includes(command as never), command);
    }
  });
});
