/**
 * A small stand-in for the `vscode` module: just what the extension's own logic touches, with
 * state the tests set (configuration, trust, extensions, diagnostics) and records they read
 * (status bar items, clipboard, messages, executed commands). `reset()` between tests.
 */
import * as path from "node:path";

type Listener<T> = (value: T) => unknown;

export class EventEmitter<T> {
  private listeners: Listener<T>[] = [];
  readonly event = (listener: Listener<T>): { dispose(): void } => {
    this.listeners.push(listener);
    return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  };
  fire(value: T): void {
    for (const listener of [...this.listeners]) {
      listener(value);
    }
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly fsPath: string,
  ) {}
  static file(fsPath: string): Uri {
    return new Uri("file", path.resolve(fsPath));
  }
  static parse(text: string): Uri {
    return text.startsWith("file://") ? Uri.file(decodeURIComponent(text.slice(7))) : new Uri("untitled", text);
  }
  toString(): string {
    return this.scheme === "file" ? `file://${this.fsPath}` : this.fsPath;
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(startLine: number, startCharacter: number, endLine: number, endCharacter: number) {
    this.start = new Position(startLine, startCharacter);
    this.end = new Position(endLine, endCharacter);
  }
}

export enum DiagnosticSeverity {
  Error = 0,
  Warning = 1,
  Information = 2,
  Hint = 3,
}

export class Diagnostic {
  source?: string;
  code?: string | number | { value: string | number; target: Uri };
  constructor(
    readonly range: Range,
    readonly message: string,
    readonly severity: DiagnosticSeverity = DiagnosticSeverity.Error,
  ) {}
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export interface FakeStatusBarItem {
  id: string;
  name?: string;
  text: string;
  tooltip?: string;
  command?: string;
  backgroundColor?: ThemeColor;
  visible: boolean;
  show(): void;
  dispose(): void;
}

/** Settings by level, keyed "section.key"; `scoped` keyed by folder path then "section.key". */
export interface FakeSettings {
  global: Record<string, unknown>;
  workspace: Record<string, unknown>;
  folders: Record<string, Record<string, unknown>>;
  defaults: Record<string, unknown>;
}

const noSettings = (): FakeSettings => ({ global: {}, workspace: {}, folders: {}, defaults: {} });

export const state = {
  settings: noSettings(),
  trusted: true,
  extensions: {} as Record<string, { isActive: boolean; exports: unknown; activate(): Promise<unknown> }>,
  workspaceFolders: [] as { uri: Uri; name: string; index: number }[],
  diagnostics: [] as [Uri, Diagnostic[]][],
  statusItems: [] as FakeStatusBarItem[],
  clipboard: "",
  messages: [] as { level: string; text: string; items: string[] }[],
  /** What the next showInformationMessage/showWarningMessage/showErrorMessage returns. */
  answer: undefined as string | undefined,
  commandsAvailable: [] as string[],
  executed: [] as { command: string; args: unknown[] }[],
  openedDocuments: [] as { language?: string; content?: string }[],
  activeTextEditor: undefined as unknown,
  diagnosticsChanged: new EventEmitter<unknown>(),
};

export function reset(): void {
  state.settings = noSettings();
  state.trusted = true;
  state.extensions = {};
  state.workspaceFolders = [];
  state.diagnostics = [];
  state.statusItems = [];
  state.clipboard = "";
  state.messages = [];
  state.answer = undefined;
  state.commandsAvailable = [];
  state.executed = [];
  state.openedDocuments = [];
  state.activeTextEditor = undefined;
  state.diagnosticsChanged = new EventEmitter<unknown>();
}

function folderOf(scope: Uri | undefined): string | undefined {
  if (scope === undefined) {
    return undefined;
  }
  return Object.keys(state.settings.folders).find(
    (folder) => scope.fsPath === folder || scope.fsPath.startsWith(folder + path.sep),
  );
}

function getConfiguration(section: string, scope?: Uri): unknown {
  const full = (key: string): string => `${section}.${key}`;
  const folder = folderOf(scope);
  const levels = (key: string): Record<string, unknown> => ({
    defaultValue: state.settings.defaults[full(key)],
    globalValue: state.settings.global[full(key)],
    workspaceValue: state.settings.workspace[full(key)],
    workspaceFolderValue: folder === undefined ? undefined : state.settings.folders[folder]?.[full(key)],
  });
  return {
    inspect: (key: string) => levels(key),
    get: (key: string, fallback?: unknown) => {
      const l = levels(key);
      return l.workspaceFolderValue ?? l.workspaceValue ?? l.globalValue ?? l.defaultValue ?? fallback;
    },
    has: (key: string) => levels(key).defaultValue !== undefined,
  };
}

function message(level: string) {
  return (text: string, ...items: string[]): Promise<string | undefined> => {
    state.messages.push({ level, text, items });
    return Promise.resolve(state.answer !== undefined && items.includes(state.answer) ? state.answer : undefined);
  };
}

export const workspace = {
  getConfiguration,
  get isTrusted(): boolean {
    return state.trusted;
  },
  get workspaceFolders() {
    return state.workspaceFolders.length ? state.workspaceFolders : undefined;
  },
  getWorkspaceFolder(uri: Uri) {
    return state.workspaceFolders.find(
      (folder) => uri.fsPath === folder.uri.fsPath || uri.fsPath.startsWith(folder.uri.fsPath + path.sep),
    );
  },
  openTextDocument(options: { language?: string; content?: string }) {
    state.openedDocuments.push(options);
    return Promise.resolve({ uri: Uri.parse("untitled:report"), ...options });
  },
};

export const window = {
  get activeTextEditor() {
    return state.activeTextEditor;
  },
  createStatusBarItem(id: string): FakeStatusBarItem {
    const item: FakeStatusBarItem = {
      id,
      text: "",
      visible: false,
      show() {
        item.visible = true;
      },
      dispose() {
        item.visible = false;
      },
    };
    state.statusItems.push(item);
    return item;
  },
  showInformationMessage: message("info"),
  showWarningMessage: message("warning"),
  showErrorMessage: message("error"),
  showTextDocument: () => Promise.resolve(undefined),
};

export const languages = {
  getDiagnostics: () => state.diagnostics,
  onDidChangeDiagnostics: (listener: Listener<unknown>) => state.diagnosticsChanged.event(listener),
};

export const extensions = {
  getExtension: (id: string) => state.extensions[id],
};

export const env = {
  clipboard: {
    writeText: (text: string) => {
      state.clipboard = text;
      return Promise.resolve();
    },
  },
};

export const commands = {
  getCommands: () => Promise.resolve(state.commandsAvailable),
  executeCommand: (command: string, ...args: unknown[]) => {
    state.executed.push({ command, args });
    return Promise.resolve(undefined);
  },
};
