/** Entry point: wires the server controller, the status bar, the commands and the test hook. */
import * as vscode from "vscode";
import { COMMANDS, copyAssumptionsPrompt, insertStressTest, showFailureReport } from "./commands";
import { run, ServerController } from "./server";
import { needsRestart } from "./settings";
import { StatusBar } from "./status";
import { installTestHook } from "./testHook";
import { pythonExtensionApi } from "./interpreter";

let controller: ServerController | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("riskhints");
  const status = new StatusBar(COMMANDS.showOutput);
  const server = new ServerController(context, output, status);
  controller = server;
  context.subscriptions.push(output, status, server);

  const testHook = installTestHook(process.env);
  if (testHook !== undefined) {
    context.subscriptions.push(testHook);
  }

  context.subscriptions.push(
    vscode.commands.registerCommand(COMMANDS.restart, () => server.restart()),
    vscode.commands.registerCommand(COMMANDS.showOutput, () => output.show()),
    vscode.commands.registerCommand(COMMANDS.copyPrompt, () => copyAssumptionsPrompt(server)),
    vscode.commands.registerCommand(COMMANDS.failureReport, () => showFailureReport(server, run)),
    vscode.commands.registerCommand(COMMANDS.insertStressTest, () => insertStressTest(server)),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (needsRestart(event)) {
        void server.restart();
      }
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => void server.restart()),
  );

  if (vscode.workspace.isTrusted) {
    const api = await pythonExtensionApi();
    const changed = api?.environments?.onDidChangeActiveEnvironmentPath;
    if (changed !== undefined) {
      context.subscriptions.push(changed(() => void server.restart()));
    }
  }
  await server.start();
}

export async function deactivate(): Promise<void> {
  await controller?.stop();
  controller = undefined;
}
