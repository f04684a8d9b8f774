/**
 * The status bar item: the server's state and how many findings sit in AI-suggested code (the
 * server marks those by ending the message with AI_SUFFIX). Clicking it shows the output.
 */
import * as vscode from "vscode";

export const AI_SUFFIX = "(in AI-suggested code)";
export const DIAGNOSTIC_SOURCE = "riskhints";

export type ServerState = "starting" | "running" | "stopped" | "failed";

export function isAiFinding(diagnostic: vscode.Diagnostic): boolean {
  return diagnostic.source === DIAGNOSTIC_SOURCE && diagnostic.message.endsWith(AI_SUFFIX);
}

export function countAiFindings(
  all: ReadonlyArray<readonly [vscode.Uri, readonly vscode.Diagnostic[]]>,
): number {
  let count = 0;
  for (const [, diagnostics] of all) {
    count += diagnostics.filter(isAiFinding).length;
  }
  return count;
}

export interface StatusView {
  text: string;
  tooltip: string;
  /** A theme colour id for the background, or undefined for the default. */
  background: string | undefined;
}

export function statusView(state: ServerState, aiFindings: number, trusted = true): StatusView {
  if (state === "running" && !trusted) {
    return {
      text: "$(shield) riskhints: restricted",
      tooltip:
        "riskhints: untrusted workspace: open files are analysed with the defaults; the workspace's " +
        "settings, git, the workspace index and every write are off until you trust it",
      background: undefined,
    };
  }
  switch (state) {
    case "starting":
      return { text: "$(sync~spin) riskhints", tooltip: "riskhints: starting the server", background: undefined };
    case "stopped":
      return { text: "$(circle-slash) riskhints", tooltip: "riskhints: server stopped", background: undefined };
    case "failed":
      return {
        text: "$(error) riskhints",
        tooltip: "riskhints: the server failed to start; click for its output",
        background: "statusBarItem.errorBackground",
      };
    case "running": {
      const findings =
        aiFindings === 1 ? "1 finding in AI-suggested code" : `${aiFindings} findings in AI-suggested code`;
      return aiFindings === 0
        ? { text: "$(check) riskhints", tooltip: `riskhints: running, ${findings}`, background: undefined }
        : {
            text: `$(warning) riskhints: ${aiFindings} AI`,
            tooltip: `riskhints: running, ${findings}`,
            background: "statusBarItem.warningBackground",
          };
    }
  }
}

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private state: ServerState = "stopped";
  private readonly subscription: vscode.Disposable;

  constructor(showOutputCommand: string) {
    this.item = vscode.window.createStatusBarItem("riskhints.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "riskhints";
    this.item.command = showOutputCommand;
    this.subscription = vscode.languages.onDidChangeDiagnostics(() => this.render());
    this.render();
    this.item.show();
  }

  setState(state: ServerState): void {
    this.state = state;
    this.render();
  }

  render(): void {
    const aiFindings = countAiFindings(vscode.languages.getDiagnostics());
    const view = statusView(this.state, aiFindings, vscode.workspace.isTrusted);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor =
      view.background === undefined ? undefined : new vscode.ThemeColor(view.background);
  }

  dispose(): void {
    this.subscription.dispose();
    this.item.dispose();
  }
}
