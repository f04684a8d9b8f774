/**
 * Which Python runs the server: the Python extension's interpreter for the file (through its
 * API, when installed), else the `riskhints.interpreter` setting, else `python3` on PATH.
 *
 * In an untrusted workspace the Python extension is not asked: its choice is often a venv
 * inside the workspace, i.e. a binary the workspace controls. `riskhints.interpreter` is a
 * restricted setting there, so VS Code only hands us the user-level value.
 */
import * as os from "node:os";
import * as vscode from "vscode";
import { SECTION } from "./settings";

export const PYTHON_EXTENSION_ID = "ms-python.python";

export type InterpreterSource = "Python extension" | "riskhints.interpreter" | "PATH";

export interface Interpreter {
  /** The executable and any arguments before ours (e.g. a `conda run` prefix). */
  command: string[];
  source: InterpreterSource;
}

/** The parts of the Python extension's API we use (ms-python.python's `exports`). */
export interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string };
    resolveEnvironment(
      environment: { path: string } | string,
    ): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
    onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
  };
  settings?: {
    getExecutionDetails(resource?: vscode.Uri): { execCommand: string[] | undefined };
  };
}

export async function pythonExtensionApi(): Promise<PythonExtensionApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION_ID);
  if (extension === undefined) {
    return undefined;
  }
  try {
    return extension.isActive ? extension.exports : await extension.activate();
  } catch {
    return undefined; // a broken Python extension must not keep our server from starting
  }
}

/** The interpreter the Python extension chose for `resource`, if it has one. */
export async function fromPythonExtension(
  api: PythonExtensionApi,
  resource: vscode.Uri | undefined,
): Promise<string[] | undefined> {
  try {
    if (api.environments !== undefined) {
      const active = api.environments.getActiveEnvironmentPath(resource);
      const resolved = await api.environments.resolveEnvironment(active);
      const executable = resolved?.executable.uri?.fsPath;
      if (executable) {
        return [executable];
      }
    }
    const command = api.settings?.getExecutionDetails(resource).execCommand;
    return command !== undefined && command.length > 0 ? command : undefined;
  } catch {
    return undefined;
  }
}

/** `~` and `${workspaceFolder}` in the setting, as users write them in other extensions. */
export function expandInterpreterSetting(value: string, workspaceFolder: string | undefined): string {
  let expanded = value.trim();
  if (expanded === "~" || expanded.startsWith("~/")) {
    expanded = os.homedir() + expanded.slice(1);
  }
  if (workspaceFolder !== undefined) {
    expanded = expanded.split("${workspaceFolder}").join(workspaceFolder);
  }
  return expanded;
}

export async function chooseInterpreter(resource: vscode.Uri | undefined): Promise<Interpreter> {
  if (vscode.workspace.isTrusted) {
    const api = await pythonExtensionApi();
    const command = api && (await fromPythonExtension(api, resource));
    if (command) {
      return { command, source: "Python extension" };
    }
  }
  const setting = vscode.workspace.getConfiguration(SECTION, resource).get<string>("interpreter");
  if (setting !== undefined && setting.trim() !== "") {
    const folder =
      (resource && vscode.workspace.getWorkspaceFolder(resource)) ??
      vscode.workspace.workspaceFolders?.[0];
    return {
      command: [expandInterpreterSetting(setting, folder?.uri.fsPath)],
      source: "riskhints.interpreter",
    };
  }
  return { command: [process.platform === "win32" ? "python" : "python3"], source: "PATH" };
}
