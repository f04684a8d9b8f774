import "./registerVscodeMock";
import * as assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { AI_SUFFIX, countAiFindings, StatusBar, statusView } from "../src/status";
import { Diagnostic, Range, reset, state, Uri } from "./vscodeMock";

function diagnostic(message: string, source = "riskhints"): Diagnostic {
  const d = new Diagnostic(new Range(0, 0, 0, 1), message);
  d.source = source;
  return d;
}

describe("status bar", () => {
  beforeEach(reset);

  it("counts riskhints findings in AI-suggested code across files", () => {
    const all: [Uri, Diagnostic[]][] = [
      [Uri.file("/a.py"), [diagnostic(`lock held across await ${AI_SUFFIX}`), diagnostic("blocking call")]],
      [Uri.file("/b.py"), [diagnostic(`x ${AI_SUFFIX}`), diagnostic(`x ${AI_SUFFIX}`, "pylint")]],
    ];
    assert.equal(countAiFindings(all as never), 2);
  });

  it("shows the state and the count", () => {
    assert.equal(statusView("starting", 0).text, "$(sync~spin) riskhints");
    assert.equal(statusView("running", 0).text, "$(check) riskhints");
    assert.equal(statusView("running", 3).text, "$(warning) riskhints: 3 AI");
    assert.match(statusView("running", 1).tooltip, /1 finding in AI-suggested code/);
    assert.equal(statusView("failed", 0).background, "statusBarItem.errorBackground");
    assert.equal(statusView("stopped", 5).text, "$(circle-slash) riskhints");
    assert.equal(statusView("running", 3, false).text, "$(shield) riskhints: restricted");
    assert.match(statusView("running", 0, false).tooltip, /untrusted workspace/);
  });

  it("updates on diagnostics changes and opens the output on click", () => {
    const bar = new StatusBar("riskhints.showOutput");
    const item = state.statusItems[0]!;
    assert.ok(item.visible);
    assert.equal(item.command, "riskhints.showOutput");
    bar.setState("running");
    assert.equal(item.text, "$(check) riskhints");
    state.diagnostics = [[Uri.file("/a.py"), [diagnostic(`m ${AI_SUFFIX}`)]]];
    state.diagnosticsChanged.fire({});
    assert.equal(item.text, "$(warning) riskhints: 1 AI");
    assert.equal(item.backgroundColor?.id, "statusBarItem.warningBackground");
    bar.dispose();
    assert.ok(!item.visible);
  });
});
