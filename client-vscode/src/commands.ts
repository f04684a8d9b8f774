/**
 * The extension's commands. Their ids differ from the server's own commands
 * (`riskhints.assumptionsPrompt`, `riskhints.insertStressTest`, ...): the language client
 * registers those under their own names, for the server's code lenses.
 */
import * as vscode from "vscode";
import { cliPlan, type LaunchInputs } from "./launch";

export const COMMANDS = {
  restart: "riskhints.restartServer",
  showOutput: "riskhints.showOutput",
  copyPrompt: "riskhints.copyAssumptionsPrompt",
  failureReport: "riskhints.showFailureReport",
  insertStressTest: "riskhints.insertStressTestAtCursor",
} as const;

export const SERVER_COMMANDS = {
  assumptionsPrompt: "riskhints.assumptionsPrompt",
  insertStressTest: "riskhints.insertStressTest",
} as const;

/** The chat view's command, when this VS Code has one (and AI features are not disabled). */
export const CHAT_OPEN = "workbench.action.chat.open";

/** What the commands need from the server controller. */
export interface Server {
  executeCommand(command: string, args: unknown[]): Promise<unknown>;
  readonly launch: LaunchInputs | undefined;
}

export type Runner = (
  plan: ReturnType<typeof cliPlan>,
  timeoutMs: number,
) => Promise<{ stdout: string; stderr: string }>;

function pythonEditor(): vscode.TextEditor | undefined {
  const editor = vscode.window.activeTextEditor;
  if (editor === undefined || editor.document.languageId !== "python") {
    void vscode.window.showWarningMessage("riskhints: open a Python file and put the cursor in a function");
    return undefined;
  }
  return editor;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The server's assumptions prompt for the function at the cursor, on the clipboard. */
export async function copyAssumptionsPrompt(server: Server): Promise<string | undefined> {
  const editor = pythonEditor();
  if (editor === undefined) {
    return undefined;
  }
  let text: unknown;
  try {
    text = await server.executeCommand(SERVER_COMMANDS.assumptionsPrompt, [
      editor.document.uri.toString(),
      editor.selection.active.line,
    ]);
  } catch (error) {
    void vscode.window.showErrorMessage(`riskhints: no assumptions prompt: ${errorText(error)}`);
    return undefined;
  }
  if (typeof text !== "string") {
    void vscode.window.showErrorMessage("riskhints: the server sent no prompt text");
    return undefined;
  }
  await vscode.env.clipboard.writeText(text);
  const hasChat = (await vscode.commands.getCommands(true)).includes(CHAT_OPEN);
  const openInChat = "Open in Chat";
  const choice = await vscode.window.showInformationMessage(
    "riskhints: assumptions prompt copied to the clipboard.",
    ...(hasChat ? [openInChat] : []),
  );
  if (choice === openInChat) {
    // isPartialQuery: put the prompt in the chat input for the user to send, not send it.
    await vscode.commands.executeCommand(CHAT_OPEN, { query: text, isPartialQuery: true });
  }
  return text;
}

/** A stress test for the function at the cursor (the server writes it and opens it). */
export async function insertStressTest(server: Server): Promise<unknown> {
  const editor = pythonEditor();
  if (editor === undefined) {
    return undefined;
  }
  if (editor.document.isDirty) {
    await editor.document.save(); // the test imports the module from disk
  }
  try {
    const result = (await server.executeCommand(SERVER_COMMANDS.insertStressTest, [
      editor.document.uri.toString(),
      editor.selection.active.line,
    ])) as { path?: string; test?: string } | null;
    if (result?.path !== undefined && result.test !== undefined) {
      void vscode.window.showInformationMessage(`riskhints: wrote ${result.test} in ${result.path}`);
    }
    return result;
  } catch (error) {
    void vscode.window.showErrorMessage(`riskhints: no stress test: ${errorText(error)}`);
    return undefined;
  }
}

function folderForReport(): vscode.WorkspaceFolder | undefined {
  const active = vscode.window.activeTextEditor?.document.uri;
  const folder = active && vscode.workspace.getWorkspaceFolder(active);
  return folder ?? vscode.workspace.workspaceFolders?.[0];
}

/** `riskhints failures report --format markdown` in the workspace folder, opened as markdown. */
export async function showFailureReport(server: Server, runner: Runner): Promise<string | undefined> {
  const folder = folderForReport();
  if (folder === undefined) {
    void vscode.window.showWarningMessage("riskhints: open a folder to see its failure report");
    return undefined;
  }
  const launch = server.launch;
  if (launch === undefined) {
    void vscode.window.showErrorMessage("riskhints: no Python interpreter yet (the server has not started)");
    return undefined;
  }
  const plan = cliPlan(launch, ["failures", "report", "--format", "markdown"], folder.uri.fsPath);
  let report: string;
  try {
    report = (await runner(plan, 60_000)).stdout;
  } catch (error) {
    void vscode.window.showErrorMessage(`riskhints: no failure report: ${errorText(error)}`);
    return undefined;
  }
  const document = await vscode.workspace.openTextDocument({ language: "markdown", content: report });
  await vscode.window.showTextDocument(document, { preview: true });
  try {
    await vscode.commands.executeCommand("markdown.showPreview", document.uri);
  } catch {
    // no markdown preview (extension disabled): the text is already shown
  }
  return report;
}
