/**
 * The language client's lifecycle: choose the interpreter, probe it, start
 * `python -m riskhints serve` over stdio, restart with a fresh process plan when the
 * interpreter or a start-up setting changes. The status bar follows the client's state.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import {
  ExecuteCommandRequest,
  LanguageClient,
  RevealOutputChannelOn,
  State,
  type LanguageClientOptions,
  type ServerOptions,
} from "vscode-languageclient/node";
import { chooseInterpreter, type Interpreter } from "./interpreter";
import {
  type BundleInfo,
  chooseServer,
  type LaunchInputs,
  parseProbe,
  type ProcessPlan,
  probePlan,
  serverPlan,
} from "./launch";
import { configurationFor, initializationOptions, SECTION, serverSettingKeys, traceLevel } from "./settings";
import type { StatusBar } from "./status";

export interface RunResult {
  stdout: string;
  stderr: string;
}

export function run(plan: ProcessPlan, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      plan.command,
      plan.args,
      { cwd: plan.cwd, env: plan.env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, windowsHide: true },
      (error, stdout, stderr) => {
        if (error) {
          const detail = stderr.trim() || error.message;
          reject(new Error(`${plan.command} ${plan.args.slice(0, 1).join(" ")}...: ${detail}`));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

function readBundleInfo(extensionPath: string): BundleInfo | undefined {
  try {
    const text = fs.readFileSync(path.join(extensionPath, "bundled", "bundle.json"), "utf8");
    return JSON.parse(text) as BundleInfo;
  } catch {
    return undefined;
  }
}

function activeResource(): vscode.Uri | undefined {
  return vscode.window.activeTextEditor?.document.uri ?? vscode.workspace.workspaceFolders?.[0]?.uri;
}

export class ServerController implements vscode.Disposable {
  private client: LanguageClient | undefined;
  /** How the running server was launched: the CLI commands use the same Python and libs. */
  launch: LaunchInputs | undefined;
  private pending: Promise<void> = Promise.resolve();
  private readonly serverKeys: string[];

  constructor(
    private readonly context: vscode.ExtensionContext,
    readonly output: vscode.OutputChannel,
    private readonly status: StatusBar,
  ) {
    this.serverKeys = serverSettingKeys(context.extension.packageJSON);
  }

  /** Start, stop and restart are queued: a restart during a start waits for it. */
  private enqueue(step: () => Promise<void>): Promise<void> {
    this.pending = this.pending.then(step, step);
    return this.pending;
  }

  start(): Promise<void> {
    return this.enqueue(() => this.doStart());
  }

  restart(): Promise<void> {
    return this.enqueue(async () => {
      await this.doStop();
      await this.doStart();
    });
  }

  stop(): Promise<void> {
    return this.enqueue(() => this.doStop());
  }

  get running(): LanguageClient | undefined {
    return this.client?.state === State.Running ? this.client : undefined;
  }

  /** `workspace/executeCommand` on the server, after it is running. */
  async executeCommand(command: string, args: unknown[]): Promise<unknown> {
    await this.pending;
    const client = this.running;
    if (client === undefined) {
      throw new Error("the riskhints server is not running");
    }
    return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
  }

  private async chooseLaunch(): Promise<LaunchInputs> {
    const resource = activeResource();
    const interpreter: Interpreter = await chooseInterpreter(resource);
    const extensionPath = this.context.extensionPath;
    const probe = parseProbe(
      (await run(probePlan(interpreter.command, extensionPath, process.env), 20_000)).stdout,
    );
    const preferInstalled =
      vscode.workspace.getConfiguration(SECTION, resource).get<boolean>("preferInstalledServer") ?? false;
    const choice = chooseServer(probe, preferInstalled, readBundleInfo(extensionPath));
    this.output.appendLine(
      `[riskhints] Python ${probe.version.join(".")} from ${interpreter.source}: ` +
        `${interpreter.command.join(" ")}; ${choice.note}`,
    );
    return {
      interpreter: interpreter.command,
      useBundled: choice.useBundled,
      bundledLibs: path.join(extensionPath, "bundled", "libs"),
      baseEnv: process.env,
    };
  }

  private async doStart(): Promise<void> {
    this.status.setState("starting");
    try {
      this.launch = await this.chooseLaunch();
      // The extension's folder as working directory: never the workspace (see launch.ts).
      const plan = serverPlan(this.launch, traceLevel(), this.context.extensionPath);
      const serverOptions: ServerOptions = {
        command: plan.command,
        args: plan.args,
        options: { cwd: plan.cwd, env: plan.env },
      };
      const keys = this.serverKeys;
      const clientOptions: LanguageClientOptions = {
        documentSelector: [
          { scheme: "file", language: "python" },
          { scheme: "untitled", language: "python" },
        ],
        outputChannel: this.output,
        traceOutputChannel: this.output,
        revealOutputChannelOn: RevealOutputChannelOn.Never,
        // An untrusted workspace (Restricted Mode): the server then reads no workspace settings,
        // runs no git, indexes nothing and writes nothing (trust granted restarts it).
        initializationOptions: { ...initializationOptions(keys), workspaceTrusted: vscode.workspace.isTrusted },
        middleware: {
          workspace: {
            configuration: async (params, token, next) => {
              const answers = await next(params, token);
              if (!Array.isArray(answers)) {
                return answers;
              }
              const results: unknown[] = answers;
              return params.items.map((item, index) =>
                item.section === SECTION ? configurationFor(item.scopeUri, keys) : results[index],
              );
            },
          },
        },
      };
      const client = new LanguageClient(SECTION, "riskhints", serverOptions, clientOptions);
      client.onDidChangeState((event) => {
        if (client !== this.client) {
          return;
        }
        if (event.newState === State.Running) {
          this.status.setState("running");
        } else if (event.newState === State.Starting) {
          this.status.setState("starting");
        } else {
          this.status.setState("stopped");
        }
      });
      this.client = client;
      await client.start();
      this.status.setState("running");
    } catch (error) {
      this.status.setState("failed");
      const message = error instanceof Error ? error.message : String(error);
      this.output.appendLine(`[riskhints] the server did not start: ${message}`);
      void vscode.window
        .showErrorMessage(`riskhints: the server did not start: ${message}`, "Show output")
        .then((choice) => {
          if (choice !== undefined) {
            this.output.show();
          }
        });
    }
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) {
      try {
        await client.dispose(5_000);
      } catch (error) {
        this.output.appendLine(`[riskhints] stopping the server: ${String(error)}`);
      }
    }
    this.status.setState("stopped");
  }

  dispose(): void {
    void this.stop();
  }
}
