/**
 * Settings: which `riskhints.*` keys belong to the server, what it is sent, and which changes
 * need a new server process.
 *
 * The server rejects unknown keys (and then ignores the whole layer), and it layers client
 * settings over `[tool.riskhints]` in pyproject.toml. So it is sent only its own keys, and only
 * the ones the user actually set: VS Code's answer to `workspace/configuration` otherwise holds
 * every default, which would silently override the project's pyproject settings.
 */
import * as vscode from "vscode";

export const SECTION = "riskhints";

/** Read by the extension only; never sent to the server. */
export const EXTENSION_ONLY_KEYS: readonly string[] = [
  "interpreter",
  "preferInstalledServer",
  "trace.server",
];

/** A change to one of these needs a new server process (`diagnosticMode` is read at start-up). */
export const RESTART_KEYS: readonly string[] = [
  "interpreter",
  "preferInstalledServer",
  "diagnosticMode",
];

interface Manifest {
  contributes?: { configuration?: { properties?: Record<string, unknown> } };
}

/** The server's keys (camelCase, without the section), read from the extension's manifest. */
export function serverSettingKeys(manifest: unknown): string[] {
  const properties = (manifest as Manifest).contributes?.configuration?.properties ?? {};
  const prefix = `${SECTION}.`;
  return Object.keys(properties)
    .filter((key) => key.startsWith(prefix))
    .map((key) => key.slice(prefix.length))
    .filter((key) => !EXTENSION_ONLY_KEYS.includes(key));
}

/** The part of `vscode.WorkspaceConfiguration` used here (so tests can fake it simply). */
export interface SettingsSource {
  get<T>(key: string): T | undefined;
  inspect<T>(key: string):
    | { globalValue?: T; workspaceValue?: T; workspaceFolderValue?: T }
    | undefined;
}

/** The settings the user set (user, workspace or folder level), with their effective values. */
export function explicitSettings(
  config: SettingsSource,
  keys: readonly string[],
): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const key of keys) {
    const levels = config.inspect(key);
    const isSet =
      levels !== undefined &&
      (levels.globalValue !== undefined ||
        levels.workspaceValue !== undefined ||
        levels.workspaceFolderValue !== undefined);
    if (isSet) {
      settings[key] = config.get(key);
    }
  }
  return settings;
}

/** `initializationOptions`: the explicitly set server settings (user and workspace level). */
export function initializationOptions(keys: readonly string[]): Record<string, unknown> {
  return explicitSettings(vscode.workspace.getConfiguration(SECTION), keys);
}

/** The answer to one `workspace/configuration` item of the `riskhints` section. */
export function configurationFor(
  scopeUri: string | undefined,
  keys: readonly string[],
): Record<string, unknown> {
  const scope = scopeUri === undefined ? undefined : vscode.Uri.parse(scopeUri);
  return explicitSettings(vscode.workspace.getConfiguration(SECTION, scope), keys);
}

export function needsRestart(event: vscode.ConfigurationChangeEvent): boolean {
  return RESTART_KEYS.some((key) => event.affectsConfiguration(`${SECTION}.${key}`));
}

export type TraceLevel = "off" | "messages" | "verbose";

export function traceLevel(): TraceLevel {
  const value = vscode.workspace.getConfiguration(SECTION).get<string>("trace.server");
  return value === "messages" || value === "verbose" ? value : "off";
}
